"""Use cases of the webhooks module: endpoints, recording deliveries, and sending them.

Every event the bus carries is offered to `record_deliveries` (the module's handler),
which writes one pending delivery per enabled endpoint whose patterns match it, in the
handler's transaction. `deliver_due` (the delivery loop, in the worker or the embedded
process) claims due deliveries, POSTs each, and records what happened: success, a retry
after an exponential backoff with jitter, or, once the attempts run out, `failed`
(replayable with `redeliver`). An endpoint whose deliveries keep failing is disabled.
"""

from __future__ import annotations

import fnmatch
import random
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from oms.bus import Event, UnitOfWork
from oms.bus.catalogue import CATALOGUE
from oms.config import Settings
from oms.db import Page, read_page, utc_now
from oms.errors import Conflict, Invalid, NotFound
from oms.runtime import Runtime
from oms.statements import execute
from oms.webhooks.models import MESSAGES, Attempt, Delivery, Endpoint
from oms.webhooks.sender import Outcome, TargetRefused, check_url, post, signature

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
CLAIM_BATCH = 20
SENDERS = 8  # deliveries of one batch in flight at once
# A new delivery waits this long before its first attempt, so that the events of one
# order that are recorded out of their order (competing consumers; the in-process bus
# handles an event's consequences before the event itself) are all recorded, and sent
# in order, before the first of them goes out.
ORDERING_GRACE = timedelta(seconds=1)
LEASE_MARGIN_SECONDS = 30.0  # a claim outlives the HTTP timeout by this much
NEW_DELIVERIES = insert(Delivery.__table__)
ENABLED_ENDPOINTS = select(Endpoint.id, Endpoint.events).where(Endpoint.enabled)


@dataclass(frozen=True)
class EndpointView:
    webhook_id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointView:
        return cls(
            endpoint.id,
            endpoint.url,
            list(endpoint.events),
            endpoint.description,
            endpoint.enabled,
            endpoint.disabled_reason,
            endpoint.created_at,
            endpoint.updated_at,
        )


@dataclass(frozen=True)
class NewEndpointView(EndpointView):
    """An endpoint just registered: the only time its signing secret is shown."""

    secret: str


@dataclass(frozen=True)
class AttemptView:
    number: int
    started_at: datetime
    response_code: int | None
    duration_ms: int
    error: str | None


@dataclass(frozen=True)
class DeliveryView:
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_response_code: int | None
    last_duration_ms: int | None
    last_error: str | None
    history: list[AttemptView]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls(
            delivery.id,
            delivery.endpoint_id,
            delivery.event_id,
            delivery.event_type,
            delivery.status,
            delivery.attempts,
            delivery.next_attempt_at if delivery.status == PENDING else None,
            delivery.last_response_code,
            delivery.last_duration_ms,
            delivery.last_error,
            [
                AttemptView(a.number, a.started_at, a.response_code, a.duration_ms, a.error)
                for a in delivery.history
            ],
            delivery.created_at,
            delivery.updated_at,
        )


# -- endpoints ---------------------------------------------------------------------------


def register_endpoint(
    rt: Runtime, url: str, events: list[str], description: str | None = None
) -> NewEndpointView:
    """Subscribe `url` to the events named or matched by `events`; 422 for a URL inside
    the network (unless allowed) or a pattern that matches no event."""
    _check_target(rt.settings, url)
    now = utc_now()
    endpoint = Endpoint(
        id=str(uuid.uuid4()),
        url=url,
        events=_known_patterns(events),
        description=description,
        secret=f"whsec_{secrets.token_urlsafe(32)}",
        enabled=True,
        disabled_reason=None,
        failed_in_a_row=0,
        created_at=now,
        updated_at=now,
    )
    with rt.bus.unit_of_work(MESSAGES) as uow:
        uow.session.add(endpoint)
        rt.bus.route_to(uow, event_types_matching(endpoint.events))
    return NewEndpointView(**vars(EndpointView.of(endpoint)), secret=endpoint.secret)


def list_endpoints(rt: Runtime, page: int, page_size: int) -> Page:
    order_by = (Endpoint.created_at, Endpoint.id)
    return read_page(rt.database, select(Endpoint), order_by, page, page_size, EndpointView.of)


def get_endpoint(rt: Runtime, webhook_id: str) -> EndpointView:
    with rt.database.reading() as session:
        return EndpointView.of(_endpoint(session, webhook_id))


def update_endpoint(rt: Runtime, webhook_id: str, changes: dict) -> EndpointView:
    """Change the URL, events, description; `enabled: true` revives a disabled endpoint
    (its failure count starts afresh), `enabled: false` pauses it."""
    if "url" in changes:
        _check_target(rt.settings, changes["url"])
    if "events" in changes:
        changes = {**changes, "events": _known_patterns(changes["events"])}
    with rt.bus.unit_of_work(MESSAGES) as uow:
        endpoint = _endpoint(uow.session, webhook_id)
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if changes.get("enabled") is True:
            endpoint.disabled_reason = None
            endpoint.failed_in_a_row = 0
        elif changes.get("enabled") is False:
            endpoint.disabled_reason = "Disabled by an administrator."
        endpoint.updated_at = utc_now()
        if endpoint.enabled and ("events" in changes or "enabled" in changes):
            # (an enabled endpoint's types are routed already: only new ones need it)
            rt.bus.route_to(uow, event_types_matching(endpoint.events))
        view = EndpointView.of(endpoint)
    return view


def delete_endpoint(rt: Runtime, webhook_id: str) -> None:
    """Unsubscribe: the endpoint and its delivery log are gone; nothing more is sent."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        # Locked first: an attempt being recorded (it holds the endpoint's key share)
        # commits before its delivery's attempts go, and none starts after.
        endpoint = _endpoint(uow.session, webhook_id, for_update=True)
        deliveries = select(Delivery.id).where(Delivery.endpoint_id == endpoint.id)
        uow.session.execute(delete(Attempt).where(Attempt.delivery_id.in_(deliveries)))
        uow.session.execute(delete(Delivery).where(Delivery.endpoint_id == endpoint.id))
        uow.session.delete(endpoint)


# -- the delivery log ----------------------------------------------------------------------


def list_deliveries(
    rt: Runtime, webhook_id: str, page: int, page_size: int, status: str | None = None
) -> Page:
    """An endpoint's deliveries, newest first, each with every attempt."""
    get_endpoint(rt, webhook_id)
    query = select(Delivery).where(Delivery.endpoint_id == webhook_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    order_by = (Delivery.created_at.desc(), Delivery.id)
    return read_page(rt.database, query, order_by, page, page_size, DeliveryView.of)


def redeliver(rt: Runtime, webhook_id: str, delivery_id: str) -> DeliveryView:
    """Send a delivery again now, whatever became of it, with a fresh set of attempts."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        endpoint = _endpoint(uow.session, webhook_id)
        delivery = uow.session.get(Delivery, delivery_id)
        if delivery is None or delivery.endpoint_id != endpoint.id:
            raise NotFound("No such delivery.")
        if not endpoint.enabled:
            raise Conflict("The webhook is disabled; enable it first.")
        now = utc_now()
        delivery.status = PENDING
        delivery.next_attempt_at = now
        delivery.attempts_this_round = 0
        delivery.claim = None  # an attempt under way now is not recorded
        delivery.updated_at = now
        view = DeliveryView.of(delivery)
    return view


# -- recording (the event handler) ---------------------------------------------------------


def record_deliveries(uow: UnitOfWork, event: Event) -> None:
    """One pending delivery of `event` for each enabled endpoint subscribed to it."""
    endpoint_ids = subscribed_endpoints(uow.connection, event.type)
    if not endpoint_ids:
        return
    now = utc_now()
    common = {
        "event_id": event.id,
        "event_type": event.type,
        "ordering_key": (event.correlationid or event.id)[:100],
        "occurred_at": _occurred_at(event, now),
        "envelope": event.to_json(),
        "status": PENDING,
        "attempts": 0,
        "attempts_this_round": 0,
        "next_attempt_at": now + ORDERING_GRACE,
        "created_at": now,
        "updated_at": now,
    }
    rows = [{**common, "id": str(uuid.uuid4()), "endpoint_id": eid} for eid in endpoint_ids]
    execute(uow.connection, NEW_DELIVERIES, rows)


def has_subscriber(event: Event, connection: Connection) -> bool:
    """Whether an enabled endpoint subscribes to `event`."""
    return bool(subscribed_endpoints(connection, event.type))


def subscribed_endpoints(connection: Connection, event_type: str) -> list[str]:
    """The ids of the enabled endpoints whose patterns match `event_type`."""
    endpoints = execute(connection, ENABLED_ENDPOINTS)
    return [endpoint.id for endpoint in endpoints if matches(endpoint.events, event_type)]


def subscribed_event_types(connection: Connection) -> set[str]:
    """The event types some enabled endpoint subscribes to."""
    patterns = [
        pattern
        for endpoint in execute(connection, ENABLED_ENDPOINTS)
        for pattern in endpoint.events
    ]
    return event_types_matching(patterns)


def event_types_matching(patterns: list[str]) -> set[str]:
    return {name for name in CATALOGUE if matches(patterns, name)}


def matches(patterns: list[str], event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in patterns)


# -- sending (the delivery loop) -----------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    delivery_id: str
    claim: str
    url: str
    secret: str
    event_id: str
    event_type: str
    envelope: str


def deliver_due(rt: Runtime, batch: int = CLAIM_BATCH) -> int:
    """Send what is due now (at most `batch` deliveries); return how many were tried.
    They are sent side by side, so an endpoint that hangs until the timeout does not hold
    up the others."""
    jobs = _claim_due(rt, batch)
    if not jobs:
        return 0
    with ThreadPoolExecutor(min(len(jobs), SENDERS), thread_name_prefix="oms-webhook") as pool:
        for _ in pool.map(lambda job: _record(rt, job, _send(rt.settings, job)), jobs):
            pass  # (re-raises what failed)
    return len(jobs)


def _due(now: datetime) -> tuple:
    """Conditions of a delivery to send now: pending, due, its endpoint enabled, and no
    earlier event with the same ordering key still pending for the same endpoint."""
    earlier = aliased(Delivery)
    waits_for_earlier = exists().where(
        earlier.endpoint_id == Delivery.endpoint_id,
        earlier.ordering_key == Delivery.ordering_key,
        earlier.status == PENDING,
        or_(
            earlier.occurred_at < Delivery.occurred_at,
            and_(earlier.occurred_at == Delivery.occurred_at, earlier.id < Delivery.id),
        ),
    )
    enabled = exists().where(Endpoint.id == Delivery.endpoint_id, Endpoint.enabled)
    return (
        Delivery.status == PENDING,
        Delivery.next_attempt_at <= now,
        enabled,
        ~waits_for_earlier,
    )


def _claim_due(rt: Runtime, batch: int) -> list[_Job]:
    """Take due deliveries for this worker. The claim is a conditional UPDATE (on SQLite
    and PostgreSQL alike): of several workers racing for a row, one updates it, the others
    find it no longer due. The claim pushes `next_attempt_at` past the HTTP timeout, so a
    worker that dies mid-send leaves the delivery due again later."""
    now = utc_now()
    query = select(Delivery.id).where(*_due(now)).order_by(Delivery.next_attempt_at).limit(batch)
    with rt.database.reading() as session:  # most polls find nothing: no write transaction
        candidates = session.scalars(query).all()
    if not candidates:
        return []
    lease = timedelta(seconds=rt.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    jobs = []
    with rt.bus.unit_of_work(MESSAGES) as uow:
        for delivery_id in candidates:
            claim = str(uuid.uuid4())
            taken = uow.session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, *_due(now))
                .values(claim=claim, next_attempt_at=now + lease)
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken:
                jobs.append(_job(uow.session, delivery_id, claim))
    return jobs


def _job(session: Session, delivery_id: str, claim: str) -> _Job:
    row = session.execute(
        select(
            Endpoint.url,
            Endpoint.secret,
            Delivery.event_id,
            Delivery.event_type,
            Delivery.envelope,
        )
        .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
        .where(Delivery.id == delivery_id)
    ).one()
    return _Job(delivery_id, claim, *row)


def _send(settings: Settings, job: _Job) -> Outcome:
    body = job.envelope.encode()
    headers = {
        "OMS-Event-Id": job.event_id,
        "OMS-Event-Type": job.event_type,
        "OMS-Delivery-Id": job.delivery_id,
        "OMS-Signature": signature(job.secret, int(time.time()), body),
    }
    return post(
        job.url,
        body,
        headers,
        timeout=settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private_targets,
    )


def _record(rt: Runtime, job: _Job, outcome: Outcome) -> None:
    settings = rt.settings
    with rt.bus.unit_of_work(MESSAGES) as uow:
        # Lock the endpoint before the delivery, as disabling an endpoint does.
        endpoint = _locked_endpoint_of(uow.session, job.delivery_id)
        delivery = uow.session.get(Delivery, job.delivery_id, with_for_update=True)
        if endpoint is None or delivery is None or delivery.claim != job.claim:
            return  # deleted, or redelivered meanwhile: that round sends it again
        now = utc_now()
        delivery.attempts += 1
        delivery.attempts_this_round += 1
        delivery.history.append(
            Attempt(
                delivery_id=delivery.id,
                number=delivery.attempts,
                started_at=now - timedelta(milliseconds=outcome.duration_ms),
                response_code=outcome.response_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
        delivery.last_response_code = outcome.response_code
        delivery.last_duration_ms = outcome.duration_ms
        delivery.last_error = outcome.error
        delivery.claim = None
        delivery.updated_at = now
        if outcome.succeeded:
            delivery.status = SUCCEEDED
            endpoint.failed_in_a_row = 0
        elif delivery.attempts_this_round < settings.webhook_max_attempts:
            delivery.next_attempt_at = now + retry_delay(settings, delivery.attempts_this_round)
        else:
            delivery.status = FAILED
            endpoint.failed_in_a_row += 1
            if endpoint.failed_in_a_row >= settings.webhook_disable_after_failed_deliveries:
                _disable(uow.session, endpoint, outcome, now)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """After the n-th failed attempt: initial * 2^(n-1), at most the maximum, plus up to
    25 % jitter (never less, so the first retry never comes before the initial delay)."""
    base = settings.webhook_retry_initial_seconds * 2 ** min(attempts - 1, 30)
    seconds = min(base, settings.webhook_retry_max_seconds)
    return timedelta(seconds=seconds * random.uniform(1.0, 1.25))


def _disable(session: Session, endpoint: Endpoint, outcome: Outcome, now: datetime) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"{endpoint.failed_in_a_row} deliveries in a row failed every attempt; "
        f"the last one: {outcome.error or 'no answer'}."
    )[:500]
    endpoint.updated_at = now
    session.execute(
        update(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.status == PENDING)
        .values(status=FAILED, claim=None, last_error="The webhook was disabled.", updated_at=now)
        .execution_options(synchronize_session=False)
    )


# -- helpers -------------------------------------------------------------------------------


def _endpoint(session: Session, webhook_id: str, for_update: bool = False) -> Endpoint:
    endpoint = session.get(Endpoint, webhook_id, with_for_update=for_update)
    if endpoint is None:
        raise NotFound("No such webhook.")
    return endpoint


def _locked_endpoint_of(session: Session, delivery_id: str) -> Endpoint | None:
    endpoint_id = session.scalar(select(Delivery.endpoint_id).where(Delivery.id == delivery_id))
    if endpoint_id is None:
        return None
    # FOR NO KEY UPDATE: handlers recording new deliveries for it need not wait.
    return session.get(Endpoint, endpoint_id, with_for_update={"key_share": True})


def _check_target(settings: Settings, url: str) -> None:
    try:
        check_url(url, settings.webhook_allow_private_targets)
    except TargetRefused as error:
        raise Invalid("The webhook URL is not accepted.", {"url": [str(error)]}) from error


def _known_patterns(patterns: list[str]) -> list[str]:
    unknown = [p for p in patterns if not any(matches([p], name) for name in CATALOGUE)]
    if unknown:
        raise Invalid(
            "Some events are unknown.",
            {"events": [f"{pattern!r} matches no event." for pattern in unknown]},
        )
    return list(dict.fromkeys(patterns))


def _occurred_at(event: Event, default: datetime) -> datetime:
    try:
        occurred = datetime.fromisoformat(event.time)
    except (TypeError, ValueError):
        return default
    return occurred if occurred.tzinfo is not None else occurred.replace(tzinfo=UTC)
