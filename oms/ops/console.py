"""The operator console: server-rendered pages for admins on the operations port.

Sign-in is a form (an admin's email and password) that keeps the admin's token in a
signed session cookie (HttpOnly, SameSite=Strict); every form carries a CSRF token
bound to the session. Scripts send `Authorization: Bearer <admin token>` instead
(no cookie, so no CSRF token needed).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from oms import orders, users
from oms.bus import DeadLetter, DeadLetterStore
from oms.errors import DomainError, NotFound
from oms.http.app import current_runtime
from oms.http.auth import Caller, read_token
from oms.ops.timeline import order_timeline

console = Blueprint("console", __name__, template_folder="templates")
View = TypeVar("View", bound=Callable[..., Any])
PAGE_SIZE = 50


def dead_letters() -> DeadLetterStore:
    return current_runtime().bus.dead_letters


# -- who is asking -----------------------------------------------------------------


def _caller() -> Caller | None:
    """The admin's bearer token (scripts), else the session's (browsers); None if neither."""
    settings = current_runtime().settings
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        g.oms_console_bearer = True
        return read_token(settings, token.strip())  # 401 if invalid or expired
    stored = session.get("token")
    if not stored:
        return None
    try:
        return read_token(settings, stored)
    except HTTPException:
        session.clear()  # expired: sign in again
        return None


def admin_page(view: View) -> View:
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        caller = _caller()
        if caller is None:
            return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
        if not caller.is_admin:
            abort(403, "The console is for administrators.")
        g.oms_caller = caller
        if request.method == "POST":
            _check_csrf()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    if g.get("oms_console_bearer"):
        return  # no ambient credential (cookie) was used: nothing to forge
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "The form has expired; reload the page and try again.")


# -- signing in --------------------------------------------------------------------


@console.get("/login")
def sign_in() -> str:
    return render_template("login.html", error=None, next=_safe_next())


@console.post("/login")
def sign_in_submit() -> tuple[str, int] | Response:
    _check_csrf()
    rt = current_runtime()
    try:
        signed_in = users.login(rt, request.form.get("email", ""), request.form.get("password", ""))
    except DomainError:
        return render_template(
            "login.html", error="Wrong email or password.", next=_safe_next()
        ), 401
    caller = read_token(rt.settings, signed_in.token)
    if not caller.is_admin:
        return render_template(
            "login.html", error="This account is not an administrator.", next=_safe_next()
        ), 403
    session.clear()  # a new session on sign-in (no fixation)
    session["token"] = signed_in.token
    session["email"] = signed_in.email
    session.permanent = True
    return redirect(_safe_next())


@console.post("/logout")
@admin_page
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("console.sign_in"))


def _safe_next() -> str:
    """Where to go after sign-in: a path on this site only (no open redirect)."""
    target = request.values.get("next") or url_for("console.order_list")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("console.order_list")
    return target


# -- orders ------------------------------------------------------------------------


@console.get("/")
@admin_page
def home() -> Response:
    return redirect(url_for("console.order_list"))


@console.get("/orders")
@admin_page
def order_list() -> str:
    rt = current_runtime()
    query = request.args.get("q", "").strip()
    status = request.args.get("status", "") or None
    if status not in (None, *orders.STATUSES):
        abort(400, "Unknown status.")
    created_from = _date(request.args.get("from"))
    created_to = _date(request.args.get("to"))
    page = max(_int(request.args.get("page"), 1), 1)
    where, note = _search(query, status, created_from, created_to)
    found = orders.search_orders(rt, where, page, PAGE_SIZE) if where else None
    buyers = users.get_users(rt, [o.user_id for o in found.items]) if found else {}
    return render_template(
        "orders.html",
        found=found,
        buyers=buyers,
        counts=orders.count_orders_by_status(rt),
        statuses=orders.STATUSES,
        query=query,
        status=status or "",
        created_from=request.args.get("from", ""),
        created_to=request.args.get("to", ""),
        note=note,
        stuck=orders.count_stuck_orders(rt, rt.settings.saga_deadline_seconds),
    )


def _search(
    query: str, status: str | None, created_from: datetime | None, created_to: datetime | None
) -> tuple[orders.OrderFilter | None, str | None]:
    """The filter for the search box: an order id, a customer's email, or nothing."""
    order_id = user_ids = None
    if query:
        if "@" in query:
            buyer = users.find_user_by_email(current_runtime(), query)
            if buyer is None:
                return None, f"No customer has the email {query}."
            user_ids = (buyer.user_id,)
        else:
            try:
                order_id = str(UUID(query))
            except ValueError:
                return None, "Search by order id or by customer email."
    to_end_of_day = created_to + timedelta(days=1) if created_to else None
    where = orders.OrderFilter(status, user_ids, order_id, created_from, to_end_of_day)
    return where, None


@console.get("/orders/stuck")
@admin_page
def stuck_list() -> str:
    rt = current_runtime()
    threshold = _int(request.args.get("olderThan"), int(rt.settings.saga_deadline_seconds))
    stuck = orders.stuck_orders(rt, max(threshold, 0), limit=200)
    buyers = users.get_users(rt, [o.user_id for o in stuck])
    return render_template(
        "stuck.html", stuck=stuck, buyers=buyers, threshold=threshold, now=datetime.now(UTC)
    )


@console.get("/orders/<order_id>")
@admin_page
def order_page(order_id: str) -> str:
    try:
        timeline = order_timeline(current_runtime(), str(UUID(order_id)))
    except (ValueError, NotFound):
        abort(404, "No such order.")
    return render_template("order.html", timeline=timeline)


# -- dead letters ------------------------------------------------------------------


@console.get("/dead-letters")
@admin_page
def dead_letter_list() -> str:
    return render_template(
        "dead_letters.html", letters=dead_letters().entries(), done=request.args.get("done")
    )


@console.post("/dead-letters/replay")
@admin_page
def replay_dead_letters() -> Response:
    chosen = _chosen_letters()
    failed = current_runtime().bus.replay(chosen)
    done = f"{len(chosen) - len(failed)} replayed" + (
        f", {len(failed)} failed again" if failed else ""
    )
    return redirect(url_for("console.dead_letter_list", done=done))


@console.post("/dead-letters/drop")
@admin_page
def drop_dead_letters() -> Response:
    count = dead_letters().forget(_chosen_letters())
    return redirect(url_for("console.dead_letter_list", done=f"{count} dropped"))


def _chosen_letters() -> list[DeadLetter]:
    if request.form.get("all") == "1":
        return dead_letters().entries()
    return dead_letters().find(request.form.getlist("id"))


# -- helpers -----------------------------------------------------------------------


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), UTC)
    except ValueError:
        abort(400, "Dates are YYYY-MM-DD.")


@console.app_template_filter("when")
def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@console.app_template_filter("clock")
def clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3]


@console.app_template_filter("age")
def age(moment: datetime) -> str:
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@console.app_context_processor
def page_context() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "signed_in_as": session.get("email")}


@console.errorhandler(HTTPException)
def error_page(error: HTTPException) -> tuple[str, int]:
    return render_template("error.html", error=error), error.code or 500
