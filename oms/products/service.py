"""Use cases of the products module: the catalogue, stock, and holding stock for orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms.bus import UnitOfWork, events
from oms.db import Page, read_page, utc_now
from oms.errors import Conflict, Invalid, NotFound
from oms.money import format_money
from oms.products.models import (
    MESSAGES,
    Inventory,
    Product,
    StockHold,
    StockHoldItem,
    StockMovement,
)
from oms.runtime import Runtime
from oms.statements import execute, execute_later

RESERVED, RELEASED, REFUSED = "reserved", "released", "refused"
HOLDS, HOLD_ITEMS, INVENTORY = StockHold.__table__, StockHoldItem.__table__, Inventory.__table__
PRODUCTS, MOVEMENTS = Product.__table__, StockMovement.__table__
# The hot path of every checkout, as plain statements (no ORM unit of work to flush).
TAKE = (
    update(INVENTORY)
    .where(
        INVENTORY.c.product_id == bindparam("pid"), INVENTORY.c.available >= bindparam("quantity")
    )
    .values(available=INVENTORY.c.available - bindparam("quantity"))
)
GIVE_BACK = (
    update(INVENTORY)
    .where(INVENTORY.c.product_id == bindparam("pid"))
    .values(available=INVENTORY.c.available + bindparam("quantity"))
)
AVAILABLE = select(INVENTORY.c.available).where(INVENTORY.c.product_id == bindparam("pid"))
HOLD_STATE = select(HOLDS.c.state).where(HOLDS.c.order_id == bindparam("order_id"))
HELD = select(HOLD_ITEMS.c.product_id, HOLD_ITEMS.c.quantity).where(
    HOLD_ITEMS.c.order_id == bindparam("order_id")
)
NEW_HOLD, NEW_HOLD_ITEMS, NEW_MOVEMENTS = insert(HOLDS), insert(HOLD_ITEMS), insert(MOVEMENTS)
RELEASE_HOLD = (
    update(HOLDS)
    .where(HOLDS.c.order_id == bindparam("held_for"))
    .values(state=RELEASED, updated_at=bindparam("now"))
)
PRICED = (
    select(PRODUCTS, INVENTORY.c.available)
    .join(INVENTORY, INVENTORY.c.product_id == PRODUCTS.c.id)
    .where(PRODUCTS.c.id.in_(bindparam("ids", expanding=True)))
)
INITIAL, RESTOCK, WRITE_OFF, HOLD, RELEASE = "initial", "restock", "write_off", "hold", "release"
MAX_STOCK = 1_000_000


@dataclass(frozen=True)
class ProductView:
    product_id: str
    name: str
    sku: str
    price: Decimal
    description: str | None
    available: int
    created_at: datetime
    updated_at: datetime

    @property
    def stock(self) -> dict[str, int]:
        return {"available": self.available}

    @classmethod
    def of(cls, product: Product) -> ProductView:
        return cls.of_row(product, product.inventory.available)

    @classmethod
    def of_row(cls, product: Any, available: int) -> ProductView:
        """From a product's row (or Product) and its units available."""
        return cls(
            product.id,
            product.name,
            product.sku,
            product.price,
            product.description,
            available,
            product.created_at,
            product.updated_at,
        )


def create_product(
    rt: Runtime, name: str, sku: str, price: Decimal, description: str | None = None, stock: int = 0
) -> ProductView:
    now = utc_now()
    product = Product(
        id=str(uuid.uuid4()),
        name=name,
        sku=sku,
        price=price,
        description=description,
        created_at=now,
        updated_at=now,
    )
    product.inventory = Inventory(product_id=product.id, available=stock)
    try:
        with rt.bus.unit_of_work(MESSAGES) as uow:
            if uow.session.scalar(select(Product.id).where(Product.sku == sku)):
                raise Conflict("A product with this SKU already exists.")
            uow.session.add(product)
            uow.session.flush()
            _record_movements(uow.connection, INITIAL, {product.id: stock})
            uow.publish(
                events.PRODUCT_CREATED,
                {"productId": product.id, "name": name, "sku": sku, "price": format_money(price)},
                correlation_id=product.id,
            )
    except IntegrityError as error:  # lost a race with the same SKU
        raise Conflict("A product with this SKU already exists.") from error
    return ProductView.of(product)


def update_product(rt: Runtime, product_id: str, changes: dict) -> ProductView:
    """Change name, price or description; publish only the fields that really changed."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        product = _product(uow.session, product_id)
        changed = {key: value for key, value in changes.items() if getattr(product, key) != value}
        if changed:
            for key, value in changed.items():
                setattr(product, key, value)
            product.updated_at = utc_now()
            uow.publish(
                events.PRODUCT_UPDATED,
                {"productId": product_id, **_event_fields(changed)},
                correlation_id=product_id,
            )
        view = ProductView.of(product)
    return view


def adjust_stock(rt: Runtime, product_id: str, delta: int) -> ProductView:
    """Restock (delta > 0) or write off (delta < 0); stock never goes below zero."""
    if delta == 0:
        raise Invalid("Nothing to change.", {"delta": ["Must not be zero."]})
    with rt.bus.unit_of_work(MESSAGES) as uow:
        _product(uow.session, product_id)
        changed = uow.session.execute(
            update(Inventory)
            .where(
                Inventory.product_id == product_id,
                Inventory.available + delta >= 0,
                Inventory.available + delta <= MAX_STOCK,
            )
            .values(available=Inventory.available + delta)
        ).rowcount
        if not changed:
            raise Conflict(f"Stock must stay between 0 and {MAX_STOCK}.")
        _record_movements(uow.connection, RESTOCK if delta > 0 else WRITE_OFF, {product_id: delta})
        uow.session.expire_all()
        view = ProductView.of(_product(uow.session, product_id))
    return view


def get_product(rt: Runtime, product_id: str) -> ProductView:
    with rt.database.reading() as session:
        return ProductView.of(_product(session, product_id))


def get_products(rt: Runtime, product_ids: Iterable[str]) -> dict[str, ProductView]:
    """The products that exist among `product_ids`, by id (one query)."""
    with rt.database.connect() as connection:
        rows = connection.execute(PRICED, {"ids": sorted(set(product_ids))}).all()
    return {row.id: ProductView.of_row(row, row.available) for row in rows}


def list_products(rt: Runtime, page: int, page_size: int, search: str | None = None) -> Page:
    """The catalogue; with `search`, only products whose name contains it (any case)."""
    query = select(Product)
    if search:
        query = query.where(Product.name.icontains(search, autoescape=True))
    order_by = (Product.created_at, Product.id)
    return read_page(rt.database, query, order_by, page, page_size, ProductView.of)


@dataclass(frozen=True)
class StockHoldView:
    """What one order holds: its state (reserved, released, refused), since when, and items."""

    order_id: str
    state: str
    updated_at: datetime
    items: dict[str, int]


def stock_hold_of(rt: Runtime, order_id: str) -> StockHoldView | None:
    with rt.database.reading() as session:
        hold = session.get(StockHold, order_id)
        if hold is None:
            return None
        items = {item.product_id: item.quantity for item in hold.items}
        return StockHoldView(hold.order_id, hold.state, hold.updated_at, items)


def count_stock_holds(rt: Runtime) -> dict[str, int]:
    """How many orders' holds are in each state."""
    with rt.database.reading() as session:
        rows = session.execute(select(StockHold.state, func.count()).group_by(StockHold.state))
        counts = dict.fromkeys((RESERVED, RELEASED, REFUSED), 0)
        counts.update({state: count for state, count in rows})
    return counts


def reserve_stock(uow: UnitOfWork, order_id: str, wanted: dict[str, int]) -> None:
    """Hold every item of an order, or none; tell orders which it was."""
    connection = uow.connection
    if _hold_state(connection, order_id) is not None:
        return  # already decided, or the order was cancelled before we saw it
    shortages = _take_stock(connection, wanted)
    now = utc_now()
    if shortages:
        execute_later(
            connection, NEW_HOLD, {"order_id": order_id, "state": REFUSED, "updated_at": now}
        )
        uow.publish(
            events.INVENTORY_INSUFFICIENT,
            {"orderId": order_id, "shortages": shortages},
            correlation_id=order_id,
        )
        return
    execute_later(
        connection, NEW_HOLD, {"order_id": order_id, "state": RESERVED, "updated_at": now}
    )
    execute_later(
        connection,
        NEW_HOLD_ITEMS,
        [
            {"order_id": order_id, "product_id": pid, "quantity": qty}
            for pid, qty in sorted(wanted.items())
        ],
    )
    _record_movements(connection, HOLD, {pid: -qty for pid, qty in wanted.items()}, order_id)
    uow.publish(
        events.INVENTORY_RESERVED,
        {"orderId": order_id, "items": _item_list(wanted)},
        correlation_id=order_id,
    )


def release_stock(uow: UnitOfWork, order_id: str) -> None:
    """Give back what a cancelled order holds; remember the cancellation either way."""
    connection = uow.connection
    state = _hold_state(connection, order_id)
    now = utc_now()
    if state is None:
        execute(connection, NEW_HOLD, {"order_id": order_id, "state": RELEASED, "updated_at": now})
        return
    if state != RESERVED:
        return
    held = dict(execute(connection, HELD, {"order_id": order_id}).all())
    _give_back(connection, held)
    _record_movements(connection, RELEASE, held, order_id)
    execute(connection, RELEASE_HOLD, {"held_for": order_id, "now": now})


@dataclass(frozen=True)
class StockAudit:
    """What the audit compares: per product, units available and what the ledger adds
    up to; per order, the state of its hold."""

    unbalanced: dict[str, tuple[int, int]]  # product id -> (available, ledger sum)
    holds: dict[str, str]  # order id -> reserved, released or refused


def audit_stock(rt: Runtime) -> StockAudit:
    with rt.database.reading() as session:
        ledger = dict(
            session.execute(
                select(StockMovement.product_id, func.sum(StockMovement.delta)).group_by(
                    StockMovement.product_id
                )
            ).all()
        )
        available = dict(session.execute(select(Inventory.product_id, Inventory.available)).all())
        holds = dict(session.execute(select(StockHold.order_id, StockHold.state)).all())
    unbalanced = {
        product_id: (units, ledger.get(product_id, 0))
        for product_id, units in available.items()
        if units != ledger.get(product_id, 0)
    }
    return StockAudit(unbalanced, holds)


def _record_movements(
    connection: Connection, kind: str, deltas: dict[str, int], order_id: str | None = None
) -> None:
    now = utc_now()
    rows = [
        {"product_id": pid, "delta": delta, "kind": kind, "order_id": order_id, "created_at": now}
        for pid, delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        execute_later(connection, NEW_MOVEMENTS, rows)


def _take_stock(connection: Connection, wanted: dict[str, int]) -> list[dict]:
    """Take each product's quantity if there is enough of all of them; otherwise take
    nothing and return the shortages."""
    taken: dict[str, int] = {}
    shortages = []
    # A fixed order of row locks keeps two multi-item orders from deadlocking.
    for product_id in sorted(wanted):
        quantity = wanted[product_id]
        if execute(connection, TAKE, {"pid": product_id, "quantity": quantity}).rowcount:
            taken[product_id] = quantity
            continue
        available = execute(connection, AVAILABLE, {"pid": product_id}).scalar()
        shortages.append(
            {"productId": product_id, "requested": quantity, "available": available or 0}
        )
    if shortages:
        _give_back(connection, taken)  # all or nothing; the rows stay locked by this transaction
    return shortages


def _give_back(connection: Connection, quantities: dict[str, int]) -> None:
    for product_id in sorted(quantities):
        execute(connection, GIVE_BACK, {"pid": product_id, "quantity": quantities[product_id]})


def _hold_state(connection: Connection, order_id: str) -> str | None:
    return execute(connection, HOLD_STATE, {"order_id": order_id}).scalar()


def _item_list(quantities: dict[str, int]) -> list[dict]:
    return [{"productId": pid, "quantity": qty} for pid, qty in sorted(quantities.items())]


def _product(session: Session, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    return product


def _event_fields(changed: dict) -> dict:
    return {key: format_money(value) if key == "price" else value for key, value in changed.items()}
