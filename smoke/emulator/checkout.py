"""Checkout Sessions: create, expire, and pay (one function shared by the hosted page and the confirm route)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smoke.emulator import catalog, payments
from smoke.emulator.errors import StripeApiError, invalid, missing, no_such
from smoke.emulator.objects import build, now, session_id, url_fragment
from smoke.emulator.subscriptions import start_subscription
from smoke.events import new_id

if TYPE_CHECKING:  # the store calls this module to pay sessions: Store is only a type here
    from smoke.emulator.store import Store

MODES = ("payment", "subscription")
DAY = 86400
NOT_OPEN = "This Checkout Session is no longer active."


@dataclass
class PayResult:
    """What paying a Checkout Session came to."""

    status: str  # "succeeded" | "declined" | "requires_action" | "not_open"
    message: str | None
    redirect_url: str | None


# -- sessions ---------------------------------------------------------------------
def create_session(store: Store, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` in ``payment`` or ``subscription`` mode."""
    mode = params.get("mode")
    if not mode:
        raise missing("mode")
    if mode not in MODES:
        raise invalid(f"Invalid mode: must be one of {', '.join(MODES)} (the emulator has no setup mode)", "mode")
    customer = params.get("customer") or None
    if customer and store.get("customer", customer) is None:
        raise no_such("customer", customer, "customer")
    if customer and params.get("customer_email"):
        raise invalid("You may only specify one of these parameters: customer, customer_email.", "customer_email")
    raw_items = params.get("line_items")
    if not isinstance(raw_items, list) or not raw_items:
        raise missing("line_items")
    items, currency = [], None
    for i, raw in enumerate(raw_items):
        item = _line_item(store, raw, f"line_items[{i}]")
        if currency and item["currency"] != currency:
            raise invalid("All line items must use the same currency.", f"line_items[{i}]")
        currency = item["currency"]
        items.append(item)
    recurring = [it for it in items if it["price"]["recurring"]]
    if mode == "payment" and recurring:
        raise invalid("You specified `payment` mode but passed a recurring price. Either switch to `subscription` "
                      "mode or use only one-time prices.", "line_items")
    if mode == "subscription" and not recurring:
        raise invalid("You must provide at least one recurring price in `subscription` mode when using prices.",
                      "line_items")
    created = now()
    expires_at = int(str(params.get("expires_at") or created + DAY))
    if not created + 1800 - 5 <= expires_at <= created + DAY + 5:
        raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session "
                      "creation.", "expires_at")
    total = sum(it["amount_total"] for it in items)
    sid = session_id()
    session = build("checkout.session", {
        "id": sid, "mode": mode, "amount_subtotal": total, "amount_total": total, "currency": currency,
        "cancel_url": params.get("cancel_url"), "success_url": params.get("success_url"),
        "client_reference_id": params.get("client_reference_id") or None, "customer": customer,
        "customer_email": params.get("customer_email") or None,
        "customer_creation": None if customer or mode == "subscription" else params.get("customer_creation", "if_required"),
        "expires_at": expires_at, "metadata": dict(params.get("metadata") or {}), "payment_intent": None,
        "payment_method_collection": "if_required" if mode == "subscription" else None,
        "payment_method_types": params.get("payment_method_types") or ["card"], "status": "open",
        "payment_status": "unpaid", "subscription": None, "invoice": None, "locale": params.get("locale"),
        "submit_type": params.get("submit_type"), "url": f"{base_url}/c/pay/{sid}#{url_fragment()}",
    })
    session["client_secret"] = None
    store.put(session, "checkout.session")
    store.state["line_items"][sid] = items
    # Kept beside the session: what Checkout will put on the objects it creates later.
    store.state["session_params"][sid] = {
        "payment_intent_data": params.get("payment_intent_data") or {},
        "subscription_data": params.get("subscription_data") or {}}
    return session


def _line_item(store: Store, raw: Any, param: str) -> dict[str, Any]:
    price = catalog.item_price(store, raw, param)
    try:
        quantity = int(str(raw.get("quantity", "")))
    except ValueError:
        raise missing(f"{param}[quantity]") from None
    if quantity < 1:
        raise invalid("Quantity must be at least 1.", f"{param}[quantity]")
    product = store.get("product", price["product"]) or {}
    amount = price["unit_amount"] * quantity
    return build("item", {"id": new_id("li"), "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0,
                          "amount_total": amount, "currency": price["currency"], "description": product.get("name"),
                          "price": copy.deepcopy(price), "quantity": quantity, "metadata": {}})


def refresh(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """Expire an open session whose ``expires_at`` has passed (as Stripe does on its own)."""
    if session["status"] == "open" and session["expires_at"] <= now():
        expire(store, session)
    return session


def expire(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """Expire an open session: its PaymentIntent is canceled and ``checkout.session.expired`` sent."""
    if session["status"] != "open":
        raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session "
                      f"has a status of \"{session['status']}\".")
    pi = store.get("payment_intent", _attempt_pi_id(store, session) or "")
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        payments.cancel(store, pi, "abandoned")
    session.update(status="expired", url=None)
    store.emit("checkout.session.expired", session)
    return session


def _attempt_pi_id(store: Store, session: dict[str, Any]) -> str | None:
    return session.get("payment_intent") or store.state["session_attempt_pi"].get(session["id"])


def _attempt_pi(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """The PaymentIntent a session's payment attempts go through, made on the first attempt (as Checkout does)."""
    pi = store.get("payment_intent", _attempt_pi_id(store, session) or "")
    if pi is not None:
        return pi
    extra = store.state["session_params"].get(session["id"], {})
    subscription = session["mode"] == "subscription"
    pi_data = {} if subscription else extra.get("payment_intent_data", {})
    pi = payments.create_payment_intent(store, {
        "amount": session["amount_total"], "currency": session["currency"], "customer": session.get("customer"),
        "metadata": pi_data.get("metadata") or {}, "description": pi_data.get("description")
        or ("Subscription creation" if subscription else None),
        "receipt_email": pi_data.get("receipt_email"),
    })
    store.state["pi_session"][pi["id"]] = session["id"]
    if subscription:
        store.state["session_attempt_pi"][session["id"]] = pi["id"]
    else:
        session["payment_intent"] = pi["id"]
    return pi


def pay_with_payment_method(store: Store, session_id_: str, pm: dict[str, Any], *, email: str | None = None,
                            name: str | None = None) -> tuple[PayResult, dict[str, Any] | None]:
    """Pay a session with a stored PaymentMethod: the one path every payer goes through."""
    session = store.get("checkout.session", session_id_)
    if session is None:
        return PayResult("not_open", "No such Checkout Session.", None), None
    refresh(store, session)
    if session["status"] != "open":
        return PayResult("not_open", NOT_OPEN, None), None
    # Checkout locks the email field to the session's customer_email (or the customer's email).
    known = store.get("customer", session.get("customer") or "") or {}
    email = session.get("customer_email") or known.get("email") or email or pm["billing_details"].get("email")
    name = name or pm["billing_details"].get("name")
    session["customer_details"] = {"address": copy.deepcopy(pm["billing_details"]["address"]), "email": email,
                                   "name": name, "phone": None, "tax_exempt": "none", "tax_ids": [],
                                   "business_name": None, "individual_name": None}
    pi = _attempt_pi(store, session)
    attempt = payments.attempt_payment(store, pi, pm)
    if attempt.status == "requires_action":
        return PayResult("requires_action", None, None), pi
    if attempt.status == "declined":
        return PayResult("declined", attempt.page_message, None), pi
    return _complete(store, session, pi), pi


def _complete(store: Store, session: dict[str, Any], pi: dict[str, Any]) -> PayResult:
    """The charge went through: make the customer (and subscription), then ``checkout.session.completed``."""
    details = session["customer_details"] or {}
    customer = session.get("customer")
    if not customer and (session["mode"] == "subscription" or session.get("customer_creation") == "always"):
        customer = catalog.create_customer(store, {"email": details.get("email"), "name": details.get("name")})["id"]
        session["customer"] = customer
        for obj in (pi, store.get("charge", pi.get("latest_charge") or "")):
            if obj is not None:
                obj["customer"] = customer
    if session["mode"] == "subscription":
        sub, invoice = start_subscription(store, session, pi, customer or "")
        session.update(subscription=sub["id"], invoice=invoice["id"])
    session.update(status="complete", payment_status="paid", url=None)
    store.emit("checkout.session.completed", session)
    success = session.get("success_url")
    return PayResult("succeeded", None, success.replace("{CHECKOUT_SESSION_ID}", session["id"]) if success else None)


def pay_session_with_card(store: Store, session_id_: str, card_number: str, *, email: str | None = None,
                          name: str | None = None) -> PayResult:
    """Pay with a card number typed on the hosted page."""
    try:
        pm = payments.new_payment_method(store, card_number, billing_details={"email": email, "name": name})
    except StripeApiError as exc:
        return PayResult("declined", exc.message, None)
    return pay_with_payment_method(store, session_id_, pm, email=email, name=name)[0]


def finish_3ds(store: Store, session_id_: str, approve: bool) -> PayResult:
    """Complete or fail the 3D Secure challenge of the session's pending payment."""
    session = store.get("checkout.session", session_id_)
    if session is None or session["status"] != "open":
        return PayResult("not_open", NOT_OPEN, None)
    pi = store.get("payment_intent", _attempt_pi_id(store, session) or "")
    if pi is None or pi["status"] != "requires_action":
        return PayResult("not_open", "This payment is not waiting for authentication.", None)
    if not approve:
        payments.fail_authentication(store, pi)
        return PayResult("declined", payments.AUTH_FAILED, None)
    pm = store.get("payment_method", pi["payment_method"])
    payments.succeed(store, pi, pm or {}, three_d_secure=True)
    return _complete(store, session, pi)
