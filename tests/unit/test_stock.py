"""Holding stock for orders: all or nothing, once per order, and never more than there is."""

from __future__ import annotations

import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms import products
from oms.bus import Event
from oms.products import service
from oms.products.models import StockHold, StockHoldItem
from oms.runtime import Runtime


def _product(runtime: Runtime, stock: int) -> str:
    view = products.create_product(
        runtime, "Widget", f"SKU-{uuid.uuid4().hex[:12]}", Decimal("9.99"), stock=stock
    )
    return view.product_id


def _available(runtime: Runtime, product_id: str) -> int:
    return products.get_product(runtime, product_id).available


def _reserve(runtime: Runtime, order_id: str, wanted: dict[str, int]) -> None:
    with runtime.bus.unit_of_work(products.MESSAGES) as uow:
        service.reserve_stock(uow, order_id, wanted)


def _release(runtime: Runtime, order_id: str) -> None:
    with runtime.bus.unit_of_work(products.MESSAGES) as uow:
        service.release_stock(uow, order_id)


def _listen(runtime: Runtime, *event_types: str) -> list[Event]:
    received: list[Event] = []
    runtime.bus.transport.bind("probe", event_types, received.append)
    return received


def _held(runtime: Runtime, product_id: str) -> int:
    """Units of `product_id` that orders hold right now."""
    with runtime.database.reading() as session:
        query = (
            select(func.coalesce(func.sum(StockHoldItem.quantity), 0))
            .join(StockHold, StockHold.order_id == StockHoldItem.order_id)
            .where(StockHoldItem.product_id == product_id, StockHold.state == service.RESERVED)
        )
        return session.scalar(query) or 0


def _new_order() -> str:
    return str(uuid.uuid4())


def test_reserving_takes_every_item_and_announces_it(runtime: Runtime) -> None:
    pen, ink = _product(runtime, 5), _product(runtime, 3)
    received = _listen(runtime, "inventory.reserved", "inventory.insufficient")
    order = _new_order()

    _reserve(runtime, order, {pen: 2, ink: 3})

    assert (_available(runtime, pen), _available(runtime, ink)) == (3, 0)
    assert [event.type for event in received] == ["inventory.reserved"]
    assert received[0].data["orderId"] == order
    assert sorted((i["productId"], i["quantity"]) for i in received[0].data["items"]) == sorted(
        [(pen, 2), (ink, 3)]
    )


def test_one_short_item_means_nothing_is_taken_and_the_shortage_is_reported(
    runtime: Runtime,
) -> None:
    pen, ink = _product(runtime, 5), _product(runtime, 1)
    received = _listen(runtime, "inventory.reserved", "inventory.insufficient")
    order = _new_order()

    _reserve(runtime, order, {pen: 2, ink: 4})

    assert (_available(runtime, pen), _available(runtime, ink)) == (5, 1)
    assert [event.type for event in received] == ["inventory.insufficient"]
    assert received[0].data == {
        "orderId": order,
        "shortages": [{"productId": ink, "requested": 4, "available": 1}],
    }


def test_a_refused_order_does_not_take_stock_when_seen_again(runtime: Runtime) -> None:
    pen = _product(runtime, 1)
    order = _new_order()
    _reserve(runtime, order, {pen: 2})

    products.adjust_stock(runtime, pen, 5)  # restocked since
    _reserve(runtime, order, {pen: 2})

    assert _available(runtime, pen) == 6


def test_reserving_the_same_order_twice_takes_stock_once(runtime: Runtime) -> None:
    pen = _product(runtime, 10)
    received = _listen(runtime, "inventory.reserved")
    order = _new_order()

    _reserve(runtime, order, {pen: 4})
    _reserve(runtime, order, {pen: 4})

    assert _available(runtime, pen) == 6
    assert _held(runtime, pen) == 4
    assert len(received) == 1


def test_releasing_twice_gives_stock_back_once(runtime: Runtime) -> None:
    pen = _product(runtime, 10)
    order = _new_order()
    _reserve(runtime, order, {pen: 4})

    _release(runtime, order)
    _release(runtime, order)

    assert _available(runtime, pen) == 10
    assert _held(runtime, pen) == 0


def test_an_order_cancelled_before_it_was_seen_takes_no_stock_later(runtime: Runtime) -> None:
    pen = _product(runtime, 10)
    received = _listen(runtime, "inventory.reserved", "inventory.insufficient")
    order = _new_order()

    _release(runtime, order)  # order.cancelled overtook order.created
    _reserve(runtime, order, {pen: 4})

    assert _available(runtime, pen) == 10
    assert _held(runtime, pen) == 0
    assert received == []


def test_a_released_order_cannot_be_reserved_again(runtime: Runtime) -> None:
    pen = _product(runtime, 10)
    order = _new_order()
    _reserve(runtime, order, {pen: 4})
    _release(runtime, order)

    _reserve(runtime, order, {pen: 4})

    assert _available(runtime, pen) == 10


def test_orders_share_stock_first_come_first_served(runtime: Runtime) -> None:
    pen = _product(runtime, 5)
    first, second = _new_order(), _new_order()

    _reserve(runtime, first, {pen: 3})
    _reserve(runtime, second, {pen: 3})

    assert _available(runtime, pen) == 2
    assert _held(runtime, pen) == 3


ORDERS = 4
operations = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "release"]),
        st.integers(min_value=0, max_value=ORDERS - 1),
        st.integers(min_value=0, max_value=4),
        st.integers(min_value=0, max_value=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    initial=st.tuples(st.integers(0, 6), st.integers(0, 6)),
    steps=operations,
)
def test_stock_is_conserved_whatever_reservations_and_releases_happen(
    runtime: Runtime, initial: tuple[int, int], steps: list[tuple[str, int, int, int]]
) -> None:
    # Fresh products and orders per example: the runtime (and its database) is shared.
    product_ids = [_product(runtime, stock) for stock in initial]
    order_ids = [_new_order() for _ in range(ORDERS)]

    for action, order, first_quantity, second_quantity in steps:
        if action == "release":
            _release(runtime, order_ids[order])
            continue
        wanted = {
            product_id: quantity
            for product_id, quantity in zip(
                product_ids, (first_quantity, second_quantity), strict=True
            )
            if quantity > 0
        }
        if wanted:
            _reserve(runtime, order_ids[order], wanted)

        for product_id, stock in zip(product_ids, initial, strict=True):
            available = _available(runtime, product_id)
            assert available >= 0
            assert available + _held(runtime, product_id) == stock

    for product_id, stock in zip(product_ids, initial, strict=True):
        assert _available(runtime, product_id) + _held(runtime, product_id) == stock

    for order_id in order_ids:  # cancelling everything gives every unit back
        _release(runtime, order_id)
    for product_id, stock in zip(product_ids, initial, strict=True):
        assert _available(runtime, product_id) == stock
        assert _held(runtime, product_id) == 0
