"""The ``/v1`` routes of server-side billing: saved payment methods, SetupIntents, subscriptions, paying invoices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from smoke.emulator import billing, wallet
from smoke.emulator.api import created_filter, endpoint, paginate
from smoke.emulator.store import Store

Handler = Callable[..., dict[str, Any]]


def blueprint() -> Blueprint:
    """Routes for payment methods (attach, detach, list), SetupIntents, subscriptions (create, update, cancel), invoices (pay)."""
    bp = Blueprint("stripe_v1_billing", __name__)

    def route(rule: str, method: str = "GET") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            """Add ``handler`` as the view of ``method rule``."""
            bp.add_url_rule(rule, endpoint=handler.__name__, view_func=endpoint(handler), methods=[method])
            return handler
        return register

    # -- payment methods ------------------------------------------------------------------
    @route("/v1/payment_methods")
    def list_payment_methods(store: Store, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /v1/payment_methods?customer=…&type=card``."""
        return wallet.list_payment_methods(store, params, "/v1/payment_methods")

    @route("/v1/customers/<object_id>/payment_methods")
    def list_customer_payment_methods(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``GET /v1/customers/{id}/payment_methods``."""
        billing.get(store, "customer", object_id)
        return wallet.list_payment_methods(store, params, f"/v1/customers/{object_id}/payment_methods", object_id)

    @route("/v1/payment_methods/<object_id>/attach", "POST")
    def attach_payment_method(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/payment_methods/{id}/attach``."""
        return wallet.attach(store, object_id, params.get("customer"))

    @route("/v1/payment_methods/<object_id>/detach", "POST")
    def detach_payment_method(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/payment_methods/{id}/detach``."""
        return wallet.detach(store, billing.get(store, "payment_method", object_id, "PaymentMethod"))

    # -- setup intents ------------------------------------------------------------------
    @route("/v1/setup_intents", "POST")
    def create_setup_intent(store: Store, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/setup_intents``."""
        return wallet.create_setup_intent(store, params)

    @route("/v1/setup_intents/<object_id>")
    def retrieve_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``GET /v1/setup_intents/{id}``."""
        return billing.get(store, "setup_intent", object_id, "setupintent")

    @route("/v1/setup_intents/<object_id>", "POST")
    def update_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/setup_intents/{id}``."""
        return wallet.update_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)

    @route("/v1/setup_intents/<object_id>/confirm", "POST")
    def confirm_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/setup_intents/{id}/confirm``."""
        return wallet.confirm_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)

    @route("/v1/setup_intents/<object_id>/cancel", "POST")
    def cancel_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/setup_intents/{id}/cancel``."""
        return wallet.cancel_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)

    @route("/v1/setup_intents")
    def list_setup_intents(store: Store, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /v1/setup_intents?customer=…&payment_method=…``."""
        matches = created_filter(params.get("created"))
        found = [s for s in store.table("setup_intent").values() if matches(s["created"])
                 and all(not params.get(k) or s.get(k) == params[k] for k in ("customer", "payment_method"))]
        return paginate(found, params, "/v1/setup_intents")

    # -- subscriptions ------------------------------------------------------------------
    @route("/v1/subscriptions", "POST")
    def create_subscription(store: Store, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/subscriptions``."""
        return billing.create_subscription(store, params)

    @route("/v1/subscriptions/<object_id>", "POST")
    def update_subscription(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/subscriptions/{id}``."""
        return billing.update_subscription(store, billing.get(store, "subscription", object_id), params)

    @route("/v1/subscriptions/<object_id>", "DELETE")
    def cancel_subscription(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``DELETE /v1/subscriptions/{id}``."""
        return billing.cancel_subscription(store, billing.get(store, "subscription", object_id), params)

    # -- invoices ------------------------------------------------------------------
    @route("/v1/invoices/<object_id>/pay", "POST")
    def pay_invoice(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
        """``POST /v1/invoices/{id}/pay``."""
        return billing.pay_invoice(store, billing.get(store, "invoice", object_id), params)

    return bp
