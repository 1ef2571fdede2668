"""The ``/v1`` routes: the Stripe resources the harness's flows use."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from flask import Blueprint, request

from smoke.emulator import billing, catalog, checkout, payments, wallet
from smoke.emulator.api import Route, blueprint_of, created_filter, paginate, session_line_items
from smoke.emulator.delivery import check_endpoint_url
from smoke.emulator.errors import invalid, missing, no_such
from smoke.emulator.objects import build, deleted
from smoke.emulator.store import Store

_EVENT_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)+$|^\*$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_NAMES = {"customer": "customer", "product": "product", "price": "price", "checkout.session": "checkout.session",
          "payment_intent": "payment_intent", "payment_method": "PaymentMethod", "charge": "charge",
          "refund": "refund", "event": "event", "webhook_endpoint": "webhook endpoint",
          "subscription": "subscription", "invoice": "invoice"}


def _get(store: Store, kind: str, object_id: str) -> dict[str, Any]:
    obj = store.get(kind, object_id)
    if obj is None:
        raise no_such(_NAMES[kind], object_id)
    return obj


def _list(store: Store, kind: str, params: dict[str, Any], url: str, **filters: Any) -> dict[str, Any]:
    """List ``kind`` newest first; ``filters`` keep objects whose field equals the param when the param is given."""
    matches = created_filter(params.get("created"))
    objects = [o for o in store.table(kind).values()
               if matches(o.get("created", 0))
               and all(params.get(p) is None or o.get(field) == params[p] for p, field in filters.items())]
    return paginate(objects, params, url)


def _merge_metadata(target: dict[str, Any], metadata: Any) -> None:
    """Stripe's metadata update: keys set, empty values delete, an empty string clears all."""
    if metadata == "":
        target.clear()
        return
    for key, value in (metadata or {}).items():
        if value == "":
            target.pop(key, None)
        else:
            target[key] = value


def _update(store: Store, obj: dict[str, Any], params: dict[str, Any], fields: tuple[str, ...], event: str,
            previous: dict[str, Any] | None = None) -> dict[str, Any]:
    previous = dict(previous or {})
    for field in fields:
        if field in params:
            previous[field] = copy.deepcopy(obj.get(field))
            obj[field] = params[field] or None
    if "metadata" in params:
        previous["metadata"] = copy.deepcopy(obj["metadata"])
        _merge_metadata(obj["metadata"], params["metadata"])
    store.emit(event, obj, previous_attributes=previous)
    return obj


# -- customers ------------------------------------------------------------------
def create_customer(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/customers`` (``payment_method`` and ``invoice_settings`` too)."""
    return wallet.create_customer(store, params)


def retrieve_customer(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/customers/{id}``."""
    return _get(store, "customer", object_id)


def update_customer(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/customers/{id}`` (``invoice_settings[default_payment_method]`` too)."""
    customer = _get(store, "customer", object_id)
    previous = wallet.invoice_settings_update(store, customer, params)
    return _update(store, customer, params, ("email", "name", "phone", "description"), "customer.updated", previous)


def list_customers(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/customers``."""
    return _list(store, "customer", params, "/v1/customers", email="email")


# -- products and prices --------------------------------------------------------------
def _list_catalog(store: Store, kind: str, params: dict[str, Any], url: str, **filters: str) -> dict[str, Any]:
    """List products or prices, ``active=true|false`` filtering on the boolean field."""
    if "active" in params:
        params["active"] = params["active"] == "true"
    return _list(store, kind, params, url, active="active", **filters)


def create_product(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/products``."""
    return catalog.create_product(store, params)


def retrieve_product(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/products/{id}``."""
    return _get(store, "product", object_id)


def list_products(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/products``."""
    return _list_catalog(store, "product", params, "/v1/products")


def create_price(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/prices``."""
    return catalog.create_price(store, params)


def retrieve_price(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/prices/{id}``."""
    return _get(store, "price", object_id)


def list_prices(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/prices``."""
    return _list_catalog(store, "price", params, "/v1/prices", product="product", type="type", currency="currency")


# -- checkout sessions ------------------------------------------------------------------
def create_session(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/checkout/sessions``."""
    return checkout.create_session(store, params, store.base_url or request.host_url.rstrip("/"))


def retrieve_session(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/checkout/sessions/{id}``."""
    return checkout.refresh(store, _get(store, "checkout.session", object_id))


def list_sessions(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/checkout/sessions``."""
    for session in store.table("checkout.session").values():
        checkout.refresh(store, session)
    return _list(store, "checkout.session", params, "/v1/checkout/sessions", payment_intent="payment_intent",
                 customer="customer", status="status", subscription="subscription")


def list_line_items(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/checkout/sessions/{id}/line_items``."""
    _get(store, "checkout.session", object_id)
    return session_line_items(store, object_id, params)


def expire_session(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/checkout/sessions/{id}/expire``."""
    return checkout.expire(store, checkout.refresh(store, _get(store, "checkout.session", object_id)))


# -- the browserless confirm Stripe's CLI uses --------------------------------------------
def retrieve_payment_page(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/payment_pages/{id}``."""
    return checkout.refresh(store, _get(store, "checkout.session", object_id))


def confirm_payment_page(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_pages/{id}/confirm``."""
    session = checkout.refresh(store, _get(store, "checkout.session", object_id))
    if not params.get("payment_method"):
        raise missing("payment_method")
    if "expected_amount" in params and str(params["expected_amount"]) != str(session["amount_total"]):
        raise invalid(f"The expected_amount ({params['expected_amount']}) does not match the amount due on this "
                      f"Checkout Session ({session['amount_total']}); reload the page and try again.",
                      "expected_amount")
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is no longer active (its status is {session['status']}).")
    pm = payments.resolve_payment_method(store, params["payment_method"])
    result, pi = checkout.pay_with_payment_method(store, object_id, pm, email=params.get("email"))
    if result.status == "declined" and pi is not None:
        error = pi.get("last_payment_error") or {}
        payments.raise_decline(store, pi, payments.Attempt(
            "declined", error.get("message"), code=error.get("code"), decline_code=error.get("decline_code"),
            charge=error.get("charge")), pm)
    # The CLI reads the outcome from the PaymentIntent, so the answer carries it expanded.
    return dict(session, payment_intent=store.render(pi) if pi is not None else session["payment_intent"])


# -- payment methods ------------------------------------------------------------------
def create_payment_method(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_methods``."""
    return payments.create_payment_method(store, params)


def retrieve_payment_method(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/payment_methods/{id}``."""
    return _get(store, "payment_method", object_id)


# -- payment intents ------------------------------------------------------------------
def create_payment_intent(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_intents``."""
    pi = payments.create_payment_intent(store, params)
    if str(params.get("confirm")) == "true":
        billing.confirm_payment_intent(store, pi, {})
    return pi


def retrieve_payment_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/payment_intents/{id}``."""
    return _get(store, "payment_intent", object_id)


def update_payment_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}``."""
    return _update(store, _get(store, "payment_intent", object_id), params, ("description", "receipt_email"),
                   "payment_intent.updated")


def list_payment_intents(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/payment_intents``."""
    return _list(store, "payment_intent", params, "/v1/payment_intents", customer="customer")


def confirm_payment_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}/confirm``."""
    return billing.confirm_payment_intent(store, _get(store, "payment_intent", object_id), params)


def cancel_payment_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}/cancel``."""
    return payments.cancel_payment_intent(store, _get(store, "payment_intent", object_id), params)


# -- charges and refunds ------------------------------------------------------------------
def retrieve_charge(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/charges/{id}``."""
    return _get(store, "charge", object_id)


def list_charges(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/charges``."""
    return _list(store, "charge", params, "/v1/charges", payment_intent="payment_intent", customer="customer")


def create_refund(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/refunds``."""
    return payments.create_refund(store, params)


def retrieve_refund(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/refunds/{id}``."""
    return _get(store, "refund", object_id)


def list_refunds(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/refunds``."""
    return _list(store, "refund", params, "/v1/refunds", charge="charge", payment_intent="payment_intent")


# -- subscriptions and invoices (read-only: Checkout makes them) ---------------------------------
def retrieve_subscription(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/subscriptions/{id}``."""
    return _get(store, "subscription", object_id)


def list_subscriptions(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/subscriptions`` (canceled ones only with ``status=canceled`` or ``all``, as at Stripe)."""
    keep = billing.list_subscriptions_filter(params)
    matches = created_filter(params.get("created"))
    found = [s for s in store.table("subscription").values() if keep(s) and matches(s.get("created", 0))
             and (not params.get("customer") or s["customer"] == params["customer"])]
    return paginate(found, params, "/v1/subscriptions")


def retrieve_invoice(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/invoices/{id}``."""
    return _get(store, "invoice", object_id)


def list_invoices(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/invoices``."""
    return _list(store, "invoice", params, "/v1/invoices", customer="customer", subscription="subscription",
                 status="status")


# -- events ------------------------------------------------------------------
def retrieve_event(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/events/{id}``."""
    return _get(store, "event", object_id)


def list_events(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/events``."""
    wanted = params.get("types") or ([params["type"]] if params.get("type") else None)
    matches = created_filter(params.get("created"))

    def selected(event: dict[str, Any]) -> bool:
        """True when ``event`` passes the ``created`` and type filters."""
        if not matches(event["created"]):
            return False
        if wanted is None:
            return True
        # Stripe's `type` filter takes a trailing wildcard, e.g. `charge.*`.
        return any(event["type"] == t or (t.endswith("*") and event["type"].startswith(t[:-1])) for t in wanted)

    return paginate([e for e in store.table("event").values() if selected(e)], params, "/v1/events")


# -- webhook endpoints ------------------------------------------------------------------
def _endpoint_params(params: dict[str, Any], creating: bool) -> None:
    """Validate a webhook endpoint's ``url`` (loopback only), ``enabled_events`` and ``api_version``."""
    if creating and not params.get("url"):
        raise missing("url")
    if "url" in params:
        reason = check_endpoint_url(params["url"])
        if reason:
            raise invalid(reason, "url", "url_invalid")
    if creating and "enabled_events" not in params:
        raise missing("enabled_events")
    if "enabled_events" in params:
        events = params["enabled_events"]
        if not isinstance(events, list) or not events:
            raise invalid("Invalid array", "enabled_events")
        for i, name in enumerate(events):
            if not _EVENT_NAME.match(str(name)):
                raise invalid(f"Invalid enabled_events[{i}]: must be an event type such as "
                              f"'checkout.session.completed', or '*'", f"enabled_events[{i}]")
    if params.get("api_version") and not _API_VERSION.match(params["api_version"]):
        raise invalid(f"Invalid API version: {params['api_version']}", "api_version")


def create_webhook_endpoint(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/webhook_endpoints``."""
    _endpoint_params(params, creating=True)
    ep = build("webhook_endpoint", {
        "url": params["url"], "enabled_events": list(params["enabled_events"]),
        "api_version": params.get("api_version") or None, "description": params.get("description") or None,
        "metadata": dict(params.get("metadata") or {}), "status": "enabled", "application": None,
    }, prefix="we")
    store.put(ep)
    secret = "whsec_" + secrets.token_urlsafe(32)
    store.state["endpoint_secrets"][ep["id"]] = secret
    return dict(ep, secret=secret)  # the secret is shown on creation only, as at Stripe


def retrieve_webhook_endpoint(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/webhook_endpoints/{id}``."""
    return _get(store, "webhook_endpoint", object_id)


def update_webhook_endpoint(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/webhook_endpoints/{id}``."""
    ep = _get(store, "webhook_endpoint", object_id)
    _endpoint_params(params, creating=False)
    for field in ("url", "enabled_events", "description"):
        if field in params:
            ep[field] = params[field]
    if "disabled" in params:
        ep["status"] = "disabled" if str(params["disabled"]) == "true" else "enabled"
    if "metadata" in params:
        _merge_metadata(ep["metadata"], params["metadata"])
    return ep


def delete_webhook_endpoint(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``DELETE /v1/webhook_endpoints/{id}``."""
    ep = _get(store, "webhook_endpoint", object_id)
    del store.table("webhook_endpoint")[object_id]
    store.state["endpoint_secrets"].pop(object_id, None)
    return deleted(ep)


def list_webhook_endpoints(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/webhook_endpoints``."""
    return _list(store, "webhook_endpoint", params, "/v1/webhook_endpoints")


# The URL table (as moto's ``urls.py``): each rule, its methods and the handler that serves it.
URLS: list[Route] = [
    # customers
    ("/v1/customers", ("POST",), create_customer),
    ("/v1/customers/<object_id>", ("GET",), retrieve_customer),
    ("/v1/customers/<object_id>", ("POST",), update_customer),
    ("/v1/customers", ("GET",), list_customers),
    # products and prices
    ("/v1/products", ("POST",), create_product),
    ("/v1/products/<object_id>", ("GET",), retrieve_product),
    ("/v1/products", ("GET",), list_products),
    ("/v1/prices", ("POST",), create_price),
    ("/v1/prices/<object_id>", ("GET",), retrieve_price),
    ("/v1/prices", ("GET",), list_prices),
    # checkout sessions
    ("/v1/checkout/sessions", ("POST",), create_session),
    ("/v1/checkout/sessions/<object_id>", ("GET",), retrieve_session),
    ("/v1/checkout/sessions", ("GET",), list_sessions),
    ("/v1/checkout/sessions/<object_id>/line_items", ("GET",), list_line_items),
    ("/v1/checkout/sessions/<object_id>/expire", ("POST",), expire_session),
    # the browserless confirm Stripe's CLI uses
    ("/v1/payment_pages/<object_id>", ("GET",), retrieve_payment_page),
    ("/v1/payment_pages/<object_id>/confirm", ("POST",), confirm_payment_page),
    # payment methods
    ("/v1/payment_methods", ("POST",), create_payment_method),
    ("/v1/payment_methods/<object_id>", ("GET",), retrieve_payment_method),
    # payment intents
    ("/v1/payment_intents", ("POST",), create_payment_intent),
    ("/v1/payment_intents/<object_id>", ("GET",), retrieve_payment_intent),
    ("/v1/payment_intents/<object_id>", ("POST",), update_payment_intent),
    ("/v1/payment_intents", ("GET",), list_payment_intents),
    ("/v1/payment_intents/<object_id>/confirm", ("POST",), confirm_payment_intent),
    ("/v1/payment_intents/<object_id>/cancel", ("POST",), cancel_payment_intent),
    # charges and refunds
    ("/v1/charges/<object_id>", ("GET",), retrieve_charge),
    ("/v1/charges", ("GET",), list_charges),
    ("/v1/refunds", ("POST",), create_refund),
    ("/v1/refunds/<object_id>", ("GET",), retrieve_refund),
    ("/v1/refunds", ("GET",), list_refunds),
    # subscriptions and invoices (read-only: Checkout makes them)
    ("/v1/subscriptions/<object_id>", ("GET",), retrieve_subscription),
    ("/v1/subscriptions", ("GET",), list_subscriptions),
    ("/v1/invoices/<object_id>", ("GET",), retrieve_invoice),
    ("/v1/invoices", ("GET",), list_invoices),
    # events
    ("/v1/events/<object_id>", ("GET",), retrieve_event),
    ("/v1/events", ("GET",), list_events),
    # webhook endpoints
    ("/v1/webhook_endpoints", ("POST",), create_webhook_endpoint),
    ("/v1/webhook_endpoints/<object_id>", ("GET",), retrieve_webhook_endpoint),
    ("/v1/webhook_endpoints/<object_id>", ("POST",), update_webhook_endpoint),
    ("/v1/webhook_endpoints/<object_id>", ("DELETE",), delete_webhook_endpoint),
    ("/v1/webhook_endpoints", ("GET",), list_webhook_endpoints),
]


def blueprint() -> Blueprint:
    """The Stripe API routes."""
    return blueprint_of("stripe_v1", __name__, URLS)
