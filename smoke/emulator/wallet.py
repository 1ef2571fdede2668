"""Saved payment methods: attach, detach and list them, a customer's default, and SetupIntents that save a card."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from smoke.emulator import catalog, payments
from smoke.emulator.errors import StripeApiError, card_error, invalid, missing, no_such
from smoke.emulator.objects import build, now
from smoke.events import new_id

if TYPE_CHECKING:
    from smoke.emulator.store import Store

# Test cards Stripe lets you attach although charging them later fails (the others that decline can't be attached).
ATTACHABLE_DECLINES = {"4000000000000341"}
USAGES = ("on_session", "off_session")
_CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_SETUP_CLEAN: dict[str, Any] = {
    "automatic_payment_methods": None, "last_setup_error": None, "next_action": None, "flow_directions": None,
    "payment_method_configuration_details": None, "payment_method_options": {
        "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}},
    "latest_attempt": None, "mandate": None, "single_use_mandate": None, "cancellation_reason": None,
}


def _card_number(store: Store, pm: dict[str, Any]) -> str:
    return str(store.state["pm_cards"].get(pm["id"], "4242424242424242"))


def not_attached(pm_id: str, param: str) -> StripeApiError:
    """Stripe's answer when a default payment method is not one of the customer's."""
    return invalid(f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
                   "attached to the customer.", param, "resource_missing")


def check_attachable(store: Store, pm: dict[str, Any]) -> None:
    """Stripe checks a card when it is saved: a test card that declines can't be attached (402 card_error)."""
    number = _card_number(store, pm)
    card = payments.card_for(number)
    if card.outcome in payments.DECLINES and number not in ATTACHABLE_DECLINES:
        raise card_error(payments.DECLINES[card.outcome][0], "card_declined", card.outcome)


# -- attach, detach, list ---------------------------------------------------------------------
def attach(store: Store, ref: str, customer_id: Any, *, param: str = "customer") -> dict[str, Any]:
    """``POST /v1/payment_methods/{id}/attach``: save the method to the customer (``payment_method.attached``)."""
    if not customer_id:
        raise missing("customer")
    if store.get("customer", str(customer_id)) is None:
        raise no_such("customer", str(customer_id), param)
    pm = payments.resolve_payment_method(store, ref)
    if pm.get("customer") == customer_id:
        return pm
    if pm.get("customer"):
        raise invalid("The payment method you provided has already been attached to a customer.")
    if pm["id"] in store.state.setdefault("pm_detached", {}):
        raise invalid("This PaymentMethod was previously used without being attached to a Customer or was detached "
                      "from a Customer, and may not be used again.")
    check_attachable(store, pm)
    pm["customer"] = str(customer_id)
    store.emit("payment_method.attached", pm)
    return pm


def detach(store: Store, pm: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_methods/{id}/detach``: no longer the customer's (nor its default), ``payment_method.detached``."""
    customer_id = pm.get("customer")
    if not customer_id:
        raise invalid("The payment method you provided is not attached to a customer so detachment is impossible.")
    pm["customer"] = None
    store.state.setdefault("pm_detached", {})[pm["id"]] = now()
    customer = store.get("customer", customer_id)
    if customer is not None and (customer.get("invoice_settings") or {}).get("default_payment_method") == pm["id"]:
        previous = {"invoice_settings": copy.deepcopy(customer["invoice_settings"])}
        customer["invoice_settings"]["default_payment_method"] = None
        store.emit("customer.updated", customer, previous_attributes=previous)
    store.emit("payment_method.detached", pm, previous_attributes={"customer": customer_id})
    return pm


def payment_methods_of(store: Store, params: dict[str, Any], customer_id: str | None = None) -> list[dict[str, Any]]:
    """The payment methods ``GET /v1/payment_methods?customer=…&type=card`` lists, oldest first."""
    customer_id = customer_id or params.get("customer") or None
    if customer_id and store.get("customer", customer_id) is None:
        raise no_such("customer", customer_id, "customer")
    kind = params.get("type") or None
    return [pm for pm in store.table("payment_method").values()
            if (customer_id is None or pm.get("customer") == customer_id) and (kind is None or pm["type"] == kind)]


# -- customers ---------------------------------------------------------------------
def invoice_settings_update(store: Store, customer: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Apply ``invoice_settings[default_payment_method]`` (and ``footer``); the previous attributes, for the event."""
    wanted = params.get("invoice_settings")
    if wanted is None:
        return {}
    if not isinstance(wanted, dict):
        raise invalid("Invalid object", "invoice_settings")
    settings = customer.setdefault("invoice_settings", {"custom_fields": None, "default_payment_method": None,
                                                        "footer": None, "rendering_options": None})
    previous = {"invoice_settings": copy.deepcopy(settings)}
    if "default_payment_method" in wanted:
        pm_id = wanted["default_payment_method"] or None
        if pm_id is not None:
            pm = store.get("payment_method", pm_id)
            if pm is None or pm.get("customer") != customer["id"]:
                raise not_attached(pm_id, "invoice_settings[default_payment_method]")
        settings["default_payment_method"] = pm_id
    if "footer" in wanted:
        settings["footer"] = wanted["footer"] or None
    return previous


def create_customer(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/customers``, saving ``payment_method`` to it and applying ``invoice_settings``."""
    pm = payments.resolve_payment_method(store, params["payment_method"]) if params.get("payment_method") else None
    if pm is not None:
        if pm.get("customer"):
            raise invalid("The payment method you provided has already been attached to a customer.", "payment_method")
        check_attachable(store, pm)
    wanted = params.get("invoice_settings")
    default = wanted.get("default_payment_method") if isinstance(wanted, dict) else None
    if default and (pm is None or default not in (pm["id"], params.get("payment_method"))):
        raise not_attached(default, "invoice_settings[default_payment_method]")
    customer = catalog.create_customer(store, params)
    if pm is not None:
        attach(store, pm["id"], customer["id"])
    if isinstance(wanted, dict):
        if default and pm is not None:
            wanted = dict(wanted, default_payment_method=pm["id"])
        invoice_settings_update(store, customer, {"invoice_settings": wanted})
    return customer


def default_payment_method(store: Store, customer_id: str) -> str | None:
    """The customer's ``invoice_settings.default_payment_method``."""
    customer = store.get("customer", customer_id) or {}
    return (customer.get("invoice_settings") or {}).get("default_payment_method")


# -- setup intents ---------------------------------------------------------------------
def create_setup_intent(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/setup_intents`` (``confirm=true`` confirms it at once)."""
    customer = params.get("customer") or None
    if customer and store.get("customer", customer) is None:
        raise no_such("customer", customer, "customer")
    usage = params.get("usage") or "off_session"
    if usage not in USAGES:
        raise invalid(f"Invalid usage: must be one of {', '.join(USAGES)}", "usage")
    pm_id = payments.resolve_payment_method(store, params["payment_method"])["id"] if params.get("payment_method") else None
    automatic = params.get("automatic_payment_methods")
    fields = dict(copy.deepcopy(_SETUP_CLEAN), **{
        "customer": customer, "description": params.get("description") or None, "usage": usage,
        "metadata": {k: v for k, v in (params.get("metadata") or {}).items() if v != ""},
        "payment_method": pm_id, "payment_method_types": params.get("payment_method_types") or ["card"],
        "status": "requires_confirmation" if pm_id else "requires_payment_method",
        "automatic_payment_methods": ({"allow_redirects": "always", "enabled": True}
                                      if isinstance(automatic, dict) and str(automatic.get("enabled")) == "true" else None),
    })
    seti = build("setup_intent", fields, prefix="seti")
    seti["client_secret"] = f"{seti['id']}_secret_{new_id('x', 25)[2:]}"
    store.put(seti)
    store.emit("setup_intent.created", seti)
    if str(params.get("confirm")) == "true":
        confirm_setup_intent(store, seti, {})
    return seti


def update_setup_intent(store: Store, seti: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}``: metadata, description, customer, payment_method before it succeeds."""
    if seti["status"] in ("succeeded", "canceled"):
        raise invalid(f"You cannot update this SetupIntent because it has a status of {seti['status']}.",
                      code="setup_intent_unexpected_state")
    if params.get("customer"):
        if store.get("customer", params["customer"]) is None:
            raise no_such("customer", params["customer"], "customer")
        seti["customer"] = params["customer"]
    if params.get("payment_method"):
        seti["payment_method"] = payments.resolve_payment_method(store, params["payment_method"])["id"]
        seti["status"] = "requires_confirmation"
    if "description" in params:
        seti["description"] = params["description"] or None
    for key, value in (params.get("metadata") or {}).items():
        if value == "":
            seti["metadata"].pop(key, None)
        else:
            seti["metadata"][key] = value
    return seti


def confirm_setup_intent(store: Store, seti: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}/confirm``: the card is checked and saved; a declining one is Stripe's 402."""
    if seti["status"] == "succeeded":
        raise invalid("You cannot confirm this SetupIntent because it has already succeeded.",
                      code="setup_intent_unexpected_state")
    if seti["status"] == "canceled":
        raise invalid("You cannot confirm this SetupIntent because it has been canceled.",
                      code="setup_intent_unexpected_state")
    ref = params.get("payment_method") or seti.get("payment_method")
    if not ref:
        raise invalid("You cannot confirm this SetupIntent because it's missing a payment method. You can either "
                      "update the SetupIntent with a payment method and then confirm it again, or confirm it again "
                      "directly with a payment method.", code="setup_intent_unexpected_state")
    pm = payments.resolve_payment_method(store, ref)
    customer = seti.get("customer")
    if customer and pm.get("customer") not in (None, customer):
        raise invalid("The payment method you provided has already been attached to a customer.", "payment_method")
    seti.update(payment_method=pm["id"], last_setup_error=None, next_action=None)
    number = _card_number(store, pm)
    card = payments.card_for(number)
    if card.outcome == "3ds":  # authenticating is the client's part (Stripe.js); the emulator has none for SetupIntents
        seti.update(status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {
            "type": "three_d_secure_redirect", "source": new_id("src")}})
        store.emit("setup_intent.requires_action", seti)
        return seti
    if card.outcome in payments.DECLINES and number not in ATTACHABLE_DECLINES:
        message = payments.DECLINES[card.outcome][0]
        error = {"code": "card_declined", "decline_code": card.outcome,
                 "doc_url": "https://stripe.com/docs/error-codes/card-declined", "message": message,
                 "payment_method": copy.deepcopy(pm), "type": "card_error"}
        seti.update(status="requires_payment_method", payment_method=None, last_setup_error=error)
        store.emit("setup_intent.setup_failed", seti)
        raise card_error(message, "card_declined", card.outcome, setup_intent=store.render(seti),
                         payment_method=copy.deepcopy(pm))
    if customer and pm.get("customer") != customer:
        attach(store, pm["id"], customer)
    seti["status"] = "succeeded"
    store.emit("setup_intent.succeeded", seti)
    return seti


def cancel_setup_intent(store: Store, seti: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}/cancel``."""
    if seti["status"] not in _CANCELABLE:
        raise invalid(f"You cannot cancel this SetupIntent because it has a status of {seti['status']}. Only a "
                      f"SetupIntent with one of the following statuses may be canceled: {', '.join(_CANCELABLE)}.",
                      code="setup_intent_unexpected_state")
    reason = params.get("cancellation_reason") or None
    if reason not in (None, "abandoned", "requested_by_customer", "duplicate"):
        raise invalid("Invalid cancellation_reason: must be one of abandoned, requested_by_customer or duplicate",
                      "cancellation_reason")
    seti.update(status="canceled", cancellation_reason=reason, next_action=None)
    store.emit("setup_intent.canceled", seti)
    return seti
