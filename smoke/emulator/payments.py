"""Test cards, payment methods, PaymentIntents, charges and refunds, behaving as Stripe test mode does."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smoke.emulator.errors import StripeApiError, card_error, invalid, missing, no_such
from smoke.emulator.objects import build, now
from smoke.events import new_id

if TYPE_CHECKING:
    from smoke.emulator.store import Store

MIN_AMOUNT = 50  # cents: Stripe's minimum charge in USD


@dataclass(frozen=True)
class TestCard:
    """How a Stripe test card behaves."""

    brand: str
    last4: str
    outcome: str  # "succeeds" | "generic_decline" | "insufficient_funds" | "3ds"
    funding: str = "credit"


CARDS = {
    "4242424242424242": TestCard("visa", "4242", "succeeds"),
    "4000056655665556": TestCard("visa", "5556", "succeeds", "debit"),
    "5555555555554444": TestCard("mastercard", "4444", "succeeds"),
    "4000000000000002": TestCard("visa", "0002", "generic_decline"),
    "4000000000009995": TestCard("visa", "9995", "insufficient_funds"),
    "4000000000000341": TestCard("visa", "0341", "generic_decline"),  # attaches to a customer; charging it fails
    "4000002500003155": TestCard("visa", "3155", "3ds"),
}
TOKENS = {"tok_visa": "4242424242424242", "tok_visa_debit": "4000056655665556", "tok_mastercard": "5555555555554444",
          "tok_chargeDeclined": "4000000000000002", "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
          "tok_threeDSecure2Required": "4000002500003155", "tok_chargeCustomerFail": "4000000000000341"}
PM_ALIASES = {"pm_card_" + tok[4:]: number for tok, number in TOKENS.items()}

# What the API says (error message) and what the hosted page shows, per decline.
DECLINES = {
    "generic_decline": ("Your card was declined.", "Your card has been declined."),
    "insufficient_funds": ("Your card has insufficient funds.", "Your card has insufficient funds."),
}
AUTH_FAILED = ("We are unable to authenticate your payment method. "
               "Please choose a different payment method and try again.")
NOT_TEST_CARD = "Your card was declined. Your request was in test mode, but used a non test card. For a list of valid test cards, visit: https://stripe.com/docs/testing."


@dataclass
class Attempt:
    """The outcome of one confirmation: ``succeeded``, ``declined`` or ``requires_action``."""

    status: str
    api_message: str | None = None
    page_message: str | None = None
    code: str | None = None
    decline_code: str | None = None
    charge: str | None = None


def card_for(number: str) -> TestCard:
    """The test card for ``number``; a 402 for anything else (test mode never takes a real card)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    card = CARDS.get(digits)
    if card is None:
        if not _luhn(digits):
            raise card_error("Your card number is incorrect.", "incorrect_number", param="number")
        raise card_error(NOT_TEST_CARD, "card_declined", "test_mode_live_card")
    return card


def _luhn(digits: str) -> bool:
    if not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _int(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", param) from None


# -- payment methods ---------------------------------------------------------------------
def create_payment_method(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_methods`` with ``type=card`` and ``card[token]`` or ``card[number]``."""
    if params.get("type") != "card":
        raise invalid("The emulator supports payment methods of type `card` only.", "type")
    card_params = params.get("card")
    if not isinstance(card_params, dict):
        raise missing("card")
    if "token" in card_params:
        number = TOKENS.get(card_params["token"])
        if number is None:
            raise no_such("token", card_params["token"], "card[token]")
    elif "number" in card_params:
        number = card_params["number"]
    else:
        raise missing("card[number]")
    exp_month = _int(card_params.get("exp_month", 12), "card[exp_month]")
    exp_year = _int(card_params.get("exp_year", 2034), "card[exp_year]")
    if exp_year < 100:
        exp_year += 2000
    return new_payment_method(store, number, exp_month=exp_month, exp_year=exp_year,
                              billing_details=params.get("billing_details") or {}, metadata=params.get("metadata") or {})


def new_payment_method(store: Store, number: str, *, exp_month: int = 12, exp_year: int = 2034,
                       billing_details: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store a card PaymentMethod for a test card number."""
    card = card_for(number)
    pm = build("payment_method", {"metadata": metadata or {}}, prefix="pm")
    pm["card"].update(brand=card.brand, display_brand=card.brand, last4=card.last4, funding=card.funding,
                      exp_month=exp_month, exp_year=exp_year, wallet=None, generated_from=None,
                      fingerprint=new_id("fp", 16)[3:], networks={"available": [card.brand], "preferred": None},
                      checks={"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "unchecked"})
    details = pm["billing_details"]
    for key in ("email", "name", "phone"):
        if billing_details and key in billing_details:
            details[key] = billing_details[key] or None
    if billing_details and isinstance(billing_details.get("address"), dict):
        details["address"].update({k: v or None for k, v in billing_details["address"].items() if k in details["address"]})
    store.put(pm)
    store.state["pm_cards"][pm["id"]] = "".join(ch for ch in number if ch.isdigit())
    return pm


def resolve_payment_method(store: Store, ref: str, param: str = "payment_method") -> dict[str, Any]:
    """A stored PaymentMethod, or a new one for a test alias such as ``pm_card_visa``."""
    if ref in PM_ALIASES:
        return new_payment_method(store, PM_ALIASES[ref])
    pm = store.get("payment_method", ref)
    if pm is None:
        raise no_such("PaymentMethod", ref, param)
    return pm


# -- payment intents ---------------------------------------------------------------------
def create_payment_intent(store: Store, params: dict[str, Any], *, emit: bool = True) -> dict[str, Any]:
    """``POST /v1/payment_intents`` (without confirming)."""
    if "amount" not in params:
        raise missing("amount")
    if "currency" not in params:
        raise missing("currency")
    amount = _int(params["amount"], "amount")
    currency = str(params["currency"]).lower()
    if amount < MIN_AMOUNT:
        raise invalid(f"Amount must be at least $0.50 {currency}", "amount", "amount_too_small")
    customer = params.get("customer") or None
    if customer and store.get("customer", customer) is None:
        raise no_such("customer", customer, "customer")
    pm_id = None
    if params.get("payment_method"):
        pm_id = resolve_payment_method(store, params["payment_method"])["id"]
    types = params.get("payment_method_types") or ["card"]
    automatic = params.get("automatic_payment_methods")
    pi = build("payment_intent", {
        "amount": amount, "currency": currency, "customer": customer, "description": params.get("description"),
        "metadata": dict(params.get("metadata") or {}), "payment_method": pm_id, "payment_method_types": types,
        "receipt_email": params.get("receipt_email"), "status": "requires_confirmation" if pm_id else "requires_payment_method",
        "automatic_payment_methods": ({"allow_redirects": "always", "enabled": True}
                                      if isinstance(automatic, dict) and str(automatic.get("enabled")) == "true" else None),
        "excluded_payment_method_types": None, "latest_charge": None,
    }, prefix="pi")
    pi["client_secret"] = f"{pi['id']}_secret_{new_id('x', 25)[2:]}"
    store.put(pi)
    if emit:
        store.emit("payment_intent.created", pi)
    return pi


def confirm(store: Store, pi: dict[str, Any], params: dict[str, Any]) -> tuple[Attempt, dict[str, Any]]:
    """Confirm ``pi`` with its payment method (or ``params``'s): the attempt and the method; a decline is not raised."""
    if pi["id"] in store.state["pi_session"]:
        raise invalid("You cannot confirm PaymentIntents created by Checkout.", code="payment_intent_unexpected_state")
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise StripeApiError(400, "invalid_request_error",
                             f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. "
                             "Only a PaymentIntent with one of the following statuses may be confirmed: "
                             "requires_confirmation, requires_action, requires_payment_method.",
                             code="payment_intent_unexpected_state", payment_intent=store.render(pi))
    ref = params.get("payment_method") or pi.get("payment_method")
    if not ref:
        raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method. "
                      "To confirm the PaymentIntent with cus_xxx, specify a payment method attached to this customer "
                      "along with the customer ID.", code="payment_intent_unexpected_state")
    pm = resolve_payment_method(store, ref)
    return attempt_payment(store, pi, pm), pm


def raise_decline(store: Store, pi: dict[str, Any], attempt: Attempt, pm: dict[str, Any]) -> None:
    """Raise the 402 Stripe answers a declined confirmation with."""
    raise card_error(attempt.api_message or "Your card was declined.", attempt.code or "card_declined",
                     attempt.decline_code, charge=attempt.charge, payment_intent=store.render(pi),
                     payment_method=copy.deepcopy(pm))


def attempt_payment(store: Store, pi: dict[str, Any], pm: dict[str, Any]) -> Attempt:
    """Charge ``pm`` for ``pi`` as the test card dictates, updating objects and emitting events."""
    card = card_for(store.state["pm_cards"].get(pm["id"], "4242424242424242"))
    pi["payment_method"] = pm["id"]
    if card.outcome == "3ds":
        pi.update(status="requires_action", last_payment_error=None, next_action={
            "type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "source": new_id("src"),
                "stripe_js": f"{store.base_url}/c/3ds/{pi['id']}"}})
        store.emit("payment_intent.requires_action", pi)
        return Attempt("requires_action")
    if card.outcome == "succeeds":
        charge = succeed(store, pi, pm)
        return Attempt("succeeded", charge=charge["id"])
    api_message, page_message = DECLINES[card.outcome]
    charge = _charge(store, pi, pm, card, paid=False, failure=(card.outcome, api_message))
    pi.update(status="requires_payment_method", payment_method=None, latest_charge=charge["id"], next_action=None,
              last_payment_error={"charge": charge["id"], "code": "card_declined", "decline_code": card.outcome,
                                  "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                                  "message": api_message, "payment_method": copy.deepcopy(pm), "type": "card_error"})
    store.emit("charge.failed", charge)
    store.emit("payment_intent.payment_failed", pi)
    return Attempt("declined", api_message, page_message, "card_declined", card.outcome, charge["id"])


def succeed(store: Store, pi: dict[str, Any], pm: dict[str, Any], three_d_secure: bool = False) -> dict[str, Any]:
    """The card was charged: charge, PaymentIntent and their events (``charge.updated`` adds the balance transaction)."""
    card = card_for(store.state["pm_cards"].get(pm["id"], "4242424242424242"))
    charge = _charge(store, pi, pm, card, paid=True, three_d_secure=three_d_secure)
    pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=charge["id"], next_action=None,
              last_payment_error=None, payment_method=pm["id"])
    store.emit("charge.succeeded", charge)
    store.emit("payment_intent.succeeded", pi)
    charge["balance_transaction"] = new_id("txn")
    store.emit("charge.updated", charge, previous_attributes={"balance_transaction": None})
    return charge


def fail_authentication(store: Store, pi: dict[str, Any]) -> None:
    """The buyer failed 3D Secure: the PaymentIntent wants another payment method."""
    pm = store.get("payment_method", pi.get("payment_method") or "")
    pi.update(status="requires_payment_method", payment_method=None, next_action=None, last_payment_error={
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": AUTH_FAILED, "payment_method": copy.deepcopy(pm), "type": "invalid_request_error"})
    store.emit("payment_intent.payment_failed", pi)


def _charge(store: Store, pi: dict[str, Any], pm: dict[str, Any], card: TestCard, *, paid: bool,
            failure: tuple[str, str] | None = None, three_d_secure: bool = False) -> dict[str, Any]:
    amount = pi["amount"]
    outcome = ({"network_advice_code": None, "network_decline_code": None, "network_status": "approved_by_network",
                "reason": None, "risk_level": "normal", "risk_score": 32, "seller_message": "Payment complete.",
                "type": "authorized"} if paid else
               {"network_advice_code": None, "network_decline_code": None, "network_status": "declined_by_network",
                "reason": failure[0] if failure else None, "risk_level": "normal", "risk_score": 32,
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined"})
    details = build("charge")["payment_method_details"]
    details["card"].update(
        amount_authorized=amount if paid else None, brand=card.brand, last4=card.last4, funding=card.funding,
        exp_month=pm["card"]["exp_month"], exp_year=pm["card"]["exp_year"], network=card.brand,
        fingerprint=pm["card"]["fingerprint"], wallet=None, installments=None,
        network_transaction_id=new_id("ntx", 15)[4:] if paid else None,
        overcapture={"maximum_amount_capturable": amount, "status": "unavailable"},
        three_d_secure={"authentication_flow": "challenge", "electronic_commerce_indicator": "05",
                        "exemption_indicator": None, "result": "authenticated", "result_reason": None,
                        "transaction_id": new_id("tds"), "version": "2.2.0"} if three_d_secure else None)
    charge = build("charge", {
        "amount": amount, "amount_captured": amount if paid else 0, "amount_refunded": 0,
        "billing_details": copy.deepcopy(pm["billing_details"]), "captured": paid,
        "calculated_statement_descriptor": "STRIPE SMOKE", "currency": pi["currency"], "customer": pi.get("customer"),
        "description": pi.get("description"), "failure_code": "card_declined" if failure else None,
        "failure_message": failure[1] if failure else None, "metadata": copy.deepcopy(pi.get("metadata") or {}),
        "outcome": outcome, "paid": paid, "payment_intent": pi["id"], "payment_method": pm["id"],
        "payment_method_details": details, "receipt_email": pi.get("receipt_email"), "refunded": False,
        "status": "succeeded" if paid else "failed", "balance_transaction": None,
    }, prefix="ch")
    charge["refunds"] = {"object": "list", "data": [], "has_more": False, "total_count": 0,
                         "url": f"/v1/charges/{charge['id']}/refunds"}
    return store.put(charge)


def cancel_payment_intent(store: Store, pi: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}/cancel``."""
    if pi["id"] in store.state["pi_session"]:
        raise invalid("You cannot cancel this PaymentIntent because it was created by Checkout. "
                      "Expire the Checkout Session instead.", code="payment_intent_unexpected_state")
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"):
        raise invalid(f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
                      "PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "
                      "requires_capture, requires_confirmation, requires_action, processing.",
                      code="payment_intent_unexpected_state")
    reason = params.get("cancellation_reason")
    cancel(store, pi, reason)
    return pi


def cancel(store: Store, pi: dict[str, Any], reason: str | None) -> None:
    """Mark ``pi`` canceled and say so."""
    pi.update(status="canceled", canceled_at=now(), cancellation_reason=reason, next_action=None)
    store.emit("payment_intent.canceled", pi)


# -- refunds ---------------------------------------------------------------------
def create_refund(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/refunds`` for a ``charge`` or ``payment_intent``: ``charge.refunded`` and ``refund.created``."""
    charge = None
    if params.get("charge"):
        charge = store.get("charge", params["charge"])
        if charge is None:
            raise no_such("charge", params["charge"], "charge")
    elif params.get("payment_intent"):
        pi = store.get("payment_intent", params["payment_intent"])
        if pi is None:
            raise no_such("payment_intent", params["payment_intent"], "payment_intent")
        charge = store.get("charge", pi.get("latest_charge") or "")
        if charge is None or pi["status"] != "succeeded":
            raise invalid(f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                          "payment_intent", "charge_not_refundable")
    else:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.",
                      code="parameter_missing")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not been captured or has failed and cannot be refunded.",
                      "charge", "charge_not_refundable")
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", "charge", "charge_already_refunded")
    amount = _int(params["amount"], "amount") if "amount" in params else remaining
    if amount <= 0:
        raise invalid("Refund amount must be positive.", "amount", "parameter_invalid_integer")
    if amount > remaining:
        raise invalid(f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge "
                      f"(${remaining / 100:.2f})", "amount", "amount_too_large")
    refund = build("refund", {
        "amount": amount, "charge": charge["id"], "currency": charge["currency"], "customer": charge.get("customer"),
        "payment_intent": charge.get("payment_intent"), "metadata": dict(params.get("metadata") or {}),
        "reason": params.get("reason"), "status": "succeeded", "balance_transaction": new_id("txn"),
    }, prefix="re")
    store.put(refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    refunds = charge.setdefault("refunds", {"object": "list", "data": [], "has_more": False, "total_count": 0,
                                            "url": f"/v1/charges/{charge['id']}/refunds"})
    refunds["data"].insert(0, copy.deepcopy(refund))
    refunds["total_count"] = len(refunds["data"])
    store.emit("charge.refunded", charge, previous_attributes=previous)
    store.emit("refund.created", refund)
    return refund
