"""Checkout, as both frontends do it: price on the server, place the order, await the saga."""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import Forbidden, HTTPException

from oms import orders, products
from oms.errors import DomainError, Invalid
from oms.http.auth import Caller
from oms.http.limits import SlidingWindowLimiter
from oms.runtime import Runtime
from oms.telemetry import metrics

log = logging.getLogger(__name__)
REJECTIONS = {
    orders.INSUFFICIENT_INVENTORY: (409, "Insufficient inventory"),
    orders.PAYMENT_DECLINED: (402, "Payment declined"),
}


@dataclass(frozen=True)
class Checkout:
    """A checkout request once each frontend has resolved its own way of naming things."""

    items: list[dict]
    shipping_address: dict
    payment_method: dict
    idempotency_key: str | None
    fingerprint: str  # identifies the request, for a replay with the same idempotency key


def check_buyer(caller: Caller, body: dict) -> None:
    """A `userId` in the body must be the caller's own."""
    claimed = body.get("user_id")
    if claimed is not None and str(claimed) != caller.user_id:
        raise Forbidden("You can only check out for yourself.")


def place_checkout(rt: Runtime, caller: Caller, checkout: Checkout) -> tuple[dict, int]:
    _checkout_limiter(rt).hit(caller.user_id, "Too many checkouts; try again later.")
    try:
        body, code = _place_checkout(rt, caller, checkout)
    except DomainError:  # the caller's mistake is no checkout
        raise
    except HTTPException as error:
        if (error.code or 500) >= 500:
            metrics.count_checkout("error")
        raise
    except Exception:
        metrics.count_checkout("error")
        raise
    metrics.count_checkout(_outcome(body, code))
    log.info(
        "checkout answered %d",
        code,
        extra={"order_id": str(body["order_id"]), "order_status": body["status"]},
    )
    return body, code


def _outcome(body: dict, code: int) -> str:
    """The checkout's outcome as the metric counts it."""
    if code == 409 and body.get("error") != REJECTIONS[orders.INSUFFICIENT_INVENTORY][1]:
        return "error"  # cancelled for another reason (e.g. its deadline passed)
    return {201: "processing", 202: "pending", 402: "declined", 409: "insufficient"}.get(
        code, "error"
    )


def _place_checkout(rt: Runtime, caller: Caller, checkout: Checkout) -> tuple[dict, int]:
    lines = _priced_lines(rt, checkout.items)
    order_id = orders.place_order(
        rt,
        orders.OrderRequest(
            user_id=caller.user_id,
            items=lines,
            shipping_address=checkout.shipping_address,
            payment_method=checkout.payment_method,
            idempotency_key=checkout.idempotency_key,
            fingerprint=checkout.fingerprint if checkout.idempotency_key else None,
        ),
    )
    settled = orders.wait_until_settled(rt, order_id, rt.settings.checkout_wait_seconds)
    return checkout_response(settled)


_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _checkout_limiter(rt: Runtime) -> SlidingWindowLimiter:
    """One per running OMS (its database), shared by the web and mobile ports."""
    limiter = _limiters.get(rt.database)
    if limiter is None:
        settings = rt.settings
        limiter = _limiters.setdefault(
            rt.database,
            SlidingWindowLimiter(
                settings.checkout_rate_limit, settings.checkout_rate_window_seconds
            ),
        )
    return limiter


def checkout_response(order: orders.OrderView) -> tuple[dict, int]:
    body: dict[str, Any] = {"order_id": order.order_id, "total_amount": order.total_amount}
    status, reason = order.first_settled_status()
    body["status"] = status
    if status == orders.CANCELLED:
        code, body["error"] = REJECTIONS.get(reason or "", (409, "Order cancelled"))
        return body, code
    return body, 201 if order.is_settled else 202


def _priced_lines(rt: Runtime, items: list[dict]) -> list[orders.LineItem]:
    """Order lines at today's catalogue prices; a product named twice is one line."""
    quantities: Counter[str] = Counter()
    for item in items:
        quantities[str(item["product_id"])] += item["quantity"]
    catalogue = products.get_products(rt, quantities)
    unknown = sorted(set(quantities) - set(catalogue))
    if unknown:
        raise Invalid(
            "Some products do not exist.", {"items": [f"Unknown product {pid}." for pid in unknown]}
        )
    return [
        orders.LineItem(pid, quantity, catalogue[pid].price) for pid, quantity in quantities.items()
    ]
