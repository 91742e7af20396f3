"""The payments module's own API (the seed's port 3004)."""

from __future__ import annotations

from uuid import UUID

from oms.http.app import current_runtime
from oms.http.auth import ADMIN, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import CardToken, links
from oms.payments import service
from oms.payments.schemas import NewPayment, PaymentMethodSchema, PaymentSchema

payments_blueprint = Blueprint(
    "payments", __name__, url_prefix="/api/v1/payments", description="Payments"
)
methods_blueprint = Blueprint(
    "payment-methods",
    __name__,
    url_prefix="/api/v1/payment-methods",
    description="Saved payment methods",
)
blueprints = [payments_blueprint, methods_blueprint]


@payments_blueprint.post("")
@requires(ADMIN)
@payments_blueprint.arguments(NewPayment)
@payments_blueprint.response(201, PaymentSchema)
@links(
    201,
    GetPayments=(
        "get",
        "/api/v1/payments/order/{order_id}",
        {"order_id": "$response.body#/orderId"},
    ),
)
def pay_order(body: dict) -> service.PaymentView:
    """Charge an order directly; a declined card gives a `failed` payment."""
    rt = current_runtime()
    order = service.OrderPayment(
        order_id=str(body["order_id"]),
        user_id=str(body["user_id"]),
        amount=body["amount"],
        currency=rt.settings.currency,
        method=CardToken().dump(body["payment_method"]),
    )
    return service.pay_order(rt, order)


@payments_blueprint.get("/order/<uuid:order_id>")
@requires(ADMIN)
@payments_blueprint.response(200, PaymentSchema(many=True))
def payments_of_order(order_id: UUID) -> list[service.PaymentView]:
    return service.payments_of_order(current_runtime(), str(order_id))


@methods_blueprint.get("/<uuid:payment_method_id>")
@requires(ADMIN)
@methods_blueprint.response(200, PaymentMethodSchema)
def get_payment_method(payment_method_id: UUID) -> service.PaymentMethodView:
    return service.get_payment_method(current_runtime(), str(payment_method_id))
