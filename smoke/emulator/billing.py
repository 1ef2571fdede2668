"""Subscriptions created server-side, their invoices and payments, renewals when the clock moves, and old API shapes.

A subscription's first invoice is created, finalized and charged to its default payment method (or the customer's)
as Stripe does for ``payment_behavior=allow_incomplete`` (the default), ``error_if_incomplete`` and
``default_incomplete``; advancing the clock (clock.py) past a period's end renews it: the next invoice is created,
finalized and charged off-session, and ``customer.subscription.updated`` carries the previous period.
"""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smoke.emulator import catalog, clock, payments, wallet
from smoke.emulator.errors import card_error, invalid, missing, no_such
from smoke.emulator.objects import build, now
from smoke.events import new_id

if TYPE_CHECKING:
    from smoke.emulator.store import Store

# API versions from basil on: periods on subscription items, invoices without payment_intent/charge/paid.
BASIL = "2025-03-31"
BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
INCLUDABLE = ("payments", "confirmation_secret")
INCOMPLETE_SECONDS = 23 * 3600  # an unpaid first invoice expires the subscription after this
RETRY_SECONDS = 3 * 86400  # when a failed renewal says it will be tried again (the emulator doesn't retry)
MAX_STEPS = 1000  # renewals, cancellations and expiries one advance may run
_DAY = 86400
NO_PAYMENT_METHOD = ("This customer has no attached payment source or default payment method. Please consider adding "
                     "a default payment method. For more information, visit "
                     "https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.")
_LIVE = ("active", "trialing", "past_due")


# -- periods ---------------------------------------------------------------------
def _shift_months(anchor: int, months: int) -> int:
    """``anchor`` moved by whole months, on the anchor's day (or the month's last day) and time."""
    start = datetime.fromtimestamp(anchor, UTC)
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return int(start.replace(year=year, month=month0 + 1, day=day).timestamp())


def next_period_end(anchor: int, after: int, recurring: dict[str, Any]) -> int:
    """The first period boundary after ``after`` of a price billed every ``recurring`` from ``anchor``."""
    count = max(1, int(recurring.get("interval_count") or 1))
    interval = recurring.get("interval")
    if interval in ("day", "week"):
        step = count * _DAY * (7 if interval == "week" else 1)
        return after + step - (after - anchor) % step if after >= anchor else anchor
    months = count * (12 if interval == "year" else 1)
    periods = 1
    while _shift_months(anchor, periods * months) <= after:
        periods += 1
    return _shift_months(anchor, periods * months)


def _period(sub: dict[str, Any]) -> tuple[int, int]:
    item = sub["items"]["data"][0]
    return int(item["current_period_start"]), int(item["current_period_end"])


# -- helpers ---------------------------------------------------------------------
def get(store: Store, kind: str, object_id: str, name: str | None = None) -> dict[str, Any]:
    """The stored object, or Stripe's 404."""
    obj = store.get(kind, object_id)
    if obj is None:
        raise no_such(name or kind, object_id)
    return obj


def _int(value: Any, param: str, minimum: int = 0) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", param) from None
    if number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param)
    return number


def _item_price(store: Store, raw: Any, param: str) -> dict[str, Any]:
    """The recurring price a subscription item names (``price`` or inline ``price_data``)."""
    price = catalog.item_price(store, raw, param, product_data=False)
    if not price.get("recurring"):
        raise invalid("The price specified is set to `type=one_time` but this field only accepts prices with "
                      "`type=recurring`.", f"{param}[price]")
    return price


def _check_prices(prices: list[dict[str, Any]]) -> None:
    first = prices[0]
    for price in prices[1:]:
        if price["currency"] != first["currency"]:
            raise invalid("Currency and interval fields must match across all plans on this subscription. Found "
                          "mismatch in currency field.", "items")
        if (price["recurring"]["interval"], price["recurring"]["interval_count"]) != (
                first["recurring"]["interval"], first["recurring"]["interval_count"]):
            raise invalid("Currency and interval fields must match across all plans on this subscription. Found "
                          "mismatch in interval field.", "items")


def _new_item(sub_id: str, price: dict[str, Any], quantity: int, start: int, end: int,
              metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    item = build("subscription_item", {
        "id": new_id("si", 14), "created": start, "current_period_start": start, "current_period_end": end,
        "price": copy.deepcopy(price), "quantity": quantity, "subscription": sub_id, "billing_thresholds": None,
        "discounts": [], "metadata": dict(metadata or {}), "tax_rates": []})
    item.pop("plan", None)
    return item


def _merge_metadata(target: dict[str, Any], metadata: Any) -> None:
    if metadata == "":
        target.clear()
        return
    if not isinstance(metadata, dict):
        raise invalid("Invalid object", "metadata")
    for key, value in metadata.items():
        if value == "":
            target.pop(key, None)
        else:
            target[key] = value


def _payment_method_for(store: Store, sub: dict[str, Any]) -> dict[str, Any] | None:
    """Stripe's order: the subscription's default payment method, then the customer's."""
    pm_id = sub.get("default_payment_method") or wallet.default_payment_method(store, sub["customer"])
    return store.get("payment_method", pm_id) if pm_id else None


def _check_default(store: Store, customer_id: str, pm_id: str | None) -> None:
    if pm_id is None:
        return
    pm = store.get("payment_method", pm_id)
    if pm is None or pm.get("customer") != customer_id:
        raise wallet.not_attached(pm_id, "default_payment_method")


# -- invoices ---------------------------------------------------------------------
def new_invoice(store: Store, sub: dict[str, Any], reason: str, period: tuple[int, int],
                lines_period: tuple[int, int], *, trial: bool = False, invoice_id: str | None = None) -> dict[str, Any]:
    """A draft invoice for the subscription's items (``invoice.created``)."""
    invoice_id = invoice_id or new_id("in")
    sub_id = sub["id"]
    customer = store.get("customer", sub["customer"]) or {}
    lines = []
    for si in sub["items"]["data"]:
        price = si["price"]
        product = store.get("product", price["product"]) or {}
        amount = 0 if trial else price["unit_amount"] * si["quantity"]
        name = product.get("name") or price["id"]
        line = build("line_item", {
            "id": new_id("il"), "amount": amount, "currency": price["currency"], "invoice": invoice_id,
            "description": f"Trial period for {name}" if trial else f"{si['quantity']} × {name}",
            "period": {"start": lines_period[0], "end": lines_period[1]}, "quantity": si["quantity"],
            "subtotal": amount, "subscription": sub_id, "discount_amounts": [], "discounts": [],
            "metadata": dict(sub["metadata"]), "pretax_credit_amounts": [], "quantity_decimal": str(si["quantity"]),
            "taxes": [],
            "pricing": {"price_details": {"price": price["id"], "product": price["product"]}, "type": "price_details",
                        "unit_amount_decimal": price["unit_amount_decimal"]},
            "parent": {"invoice_item_details": None, "type": "subscription_item_details",
                       "subscription_item_details": {"invoice_item": None, "proration": False,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub_id, "subscription_item": si["id"]}}})
        lines.append(line)
    total = sum(line["amount"] for line in lines)
    invoice = build("invoice", {
        "id": invoice_id, "customer": sub["customer"], "currency": sub["currency"], "status": "draft",
        "amount_due": total, "amount_paid": 0, "amount_remaining": total, "amount_overpaid": 0, "amount_shipping": 0,
        "subtotal": total, "subtotal_excluding_tax": total, "total": total, "total_excluding_tax": total,
        "billing_reason": reason, "collection_method": "charge_automatically", "auto_advance": True,
        "customer_email": customer.get("email"), "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"), "customer_address": None, "customer_shipping": None,
        "due_date": None, "effective_at": None, "from_invoice": None, "last_finalization_error": None,
        "next_payment_attempt": None, "number": None, "period_start": period[0], "period_end": period[1],
        "shipping_cost": None, "shipping_details": None, "webhooks_delivered_at": None, "attempt_count": 0,
        "attempted": False, "subscription": sub_id, "total_taxes": [], "total_pretax_credit_amounts": [],
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                          "status": None},
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "parent": {"quote_details": None, "type": "subscription_details",
                   "subscription_details": {"metadata": copy.deepcopy(sub["metadata"]), "subscription": sub_id}},
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                  "url": f"/v1/invoices/{invoice_id}/lines"},
    })
    store.put(invoice)
    store.emit("invoice.created", invoice)
    return invoice


def finalize(store: Store, invoice: dict[str, Any]) -> None:
    """Draft → open, numbered (``invoice.finalized``)."""
    customer = store.get("customer", invoice["customer"]) or {}
    prefix = customer.get("invoice_prefix") or new_id("x", 9)[2:].upper()
    sequence = int(customer.get("next_invoice_sequence") or 1)
    if customer:
        customer["next_invoice_sequence"] = sequence + 1
    invoice.update(status="open", number=f"{prefix}-{sequence:04d}", effective_at=now())
    invoice["status_transitions"]["finalized_at"] = now()
    store.emit("invoice.finalized", invoice)


def _mark_paid(store: Store, invoice: dict[str, Any]) -> None:
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, attempted=True,
                   auto_advance=False, next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = now()
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)


def _mark_failed(store: Store, invoice: dict[str, Any], action_required: bool = False) -> None:
    renewal = invoice["billing_reason"] != "subscription_create"
    invoice.update(attempted=True, next_payment_attempt=now() + RETRY_SECONDS if renewal else None)
    store.emit("invoice.payment_action_required" if action_required else "invoice.payment_failed", invoice)


def invoice_intent(store: Store, invoice_id: str) -> dict[str, Any] | None:
    """The latest PaymentIntent that pays ``invoice_id``."""
    found = [pi for pi in store.table("payment_intent").values() if pi.get("invoice") == invoice_id]
    return found[-1] if found else None


def _intent_for(store: Store, invoice: dict[str, Any], pm: dict[str, Any] | None) -> dict[str, Any]:
    """The invoice's PaymentIntent: its open one, or a new one (``payment_intent.created``)."""
    pi = invoice_intent(store, invoice["id"])
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        return pi
    description = "Subscription creation" if invoice["billing_reason"] == "subscription_create" else "Subscription update"
    pi = payments.create_payment_intent(store, {"amount": invoice["amount_due"], "currency": invoice["currency"],
                                                "customer": invoice["customer"], "description": description,
                                                "payment_method": pm["id"] if pm is not None else None})
    pi["invoice"] = invoice["id"]  # the link older API versions show; basil lists it under the invoice's payments
    return pi


def collect(store: Store, invoice: dict[str, Any], pm: dict[str, Any] | None, *, attempt: bool = True,
            off_session: bool = False) -> str:
    """Charge an open invoice: ``"paid"``, ``"failed"``, ``"requires_action"`` or ``"pending"`` (not attempted)."""
    if invoice["amount_due"] == 0:
        _mark_paid(store, invoice)
        return "paid"
    pi = _intent_for(store, invoice, pm)
    if not attempt:
        return "pending"
    invoice["attempt_count"] += 1
    if pm is None:
        pi["last_payment_error"] = {"code": "payment_intent_payment_attempt_failed", "message": NO_PAYMENT_METHOD,
                                    "type": "invalid_request_error"}
        _mark_failed(store, invoice)
        return "failed"
    card = payments.card_for(store.state["pm_cards"].get(pm["id"], "4242424242424242"))
    if card.outcome == "3ds" and off_session:
        payments.succeed(store, pi, pm)  # a card that was set up is not challenged again off-session
        outcome = "succeeded"
    else:
        outcome = payments.attempt_payment(store, pi, pm).status
    if outcome == "succeeded":
        _mark_paid(store, invoice)
        return "paid"
    _mark_failed(store, invoice, action_required=outcome == "requires_action")
    return "requires_action" if outcome == "requires_action" else "failed"


def _set_status(store: Store, sub: dict[str, Any], status: str, previous: dict[str, Any] | None = None) -> None:
    """Change the subscription's status and say so (``customer.subscription.updated``)."""
    changes = dict(previous or {})
    if sub["status"] != status:
        changes["status"] = sub["status"]
        sub["status"] = status
    if changes:
        store.emit("customer.subscription.updated", sub, previous_attributes=changes)


def confirm_payment_intent(store: Store, pi: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/payment_intents/{id}/confirm``; an invoice's PaymentIntent settles the invoice; a decline is a 402."""
    attempt, pm = payments.confirm(store, pi, params)
    if pi.get("invoice"):  # an invoice's PaymentIntent (payment_behavior=default_incomplete) settles the invoice
        invoice_payment_attempted(store, pi, attempt.status)
    if attempt.status == "declined":
        payments.raise_decline(store, pi, attempt, pm)
    return pi


def invoice_payment_attempted(store: Store, pi: dict[str, Any], outcome: str) -> None:
    """A PaymentIntent paying an invoice was confirmed directly: settle the invoice and its subscription."""
    invoice = store.get("invoice", pi.get("invoice") or "")
    if invoice is None or invoice["status"] != "open":
        return
    invoice["attempt_count"] += 1
    if outcome == "succeeded":
        _mark_paid(store, invoice)
        sub = store.get("subscription", invoice.get("subscription") or "")
        if sub is not None and sub["status"] in ("incomplete", "past_due", "unpaid"):
            _set_status(store, sub, "active")
    else:
        _mark_failed(store, invoice, action_required=outcome == "requires_action")


def pay_invoice(store: Store, invoice: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/invoices/{id}/pay``: charge an open invoice now; a decline is Stripe's 402."""
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid")
    if invoice["status"] != "open":
        raise invalid(f"You can only pay an open invoice; this one is {invoice['status']}.")
    sub = store.get("subscription", invoice.get("subscription") or "")
    if params.get("payment_method"):
        pm: dict[str, Any] | None = payments.resolve_payment_method(store, params["payment_method"])
    elif sub is not None:
        pm = _payment_method_for(store, sub)
    else:
        pm = store.get("payment_method", wallet.default_payment_method(store, invoice["customer"]) or "")
    if pm is None and invoice["amount_due"] > 0:
        raise invalid(NO_PAYMENT_METHOD)
    outcome = collect(store, invoice, pm)
    if outcome == "paid":
        if sub is not None and sub["status"] in ("incomplete", "past_due", "unpaid"):
            _set_status(store, sub, "active")
        return invoice
    pi = invoice_intent(store, invoice["id"]) or {}
    error = pi.get("last_payment_error") or {}
    if outcome == "requires_action":
        raise invalid("This payment requires additional user action before it can be completed successfully.",
                      code="invoice_payment_intent_requires_action")
    raise card_error(error.get("message") or "Your card was declined.", error.get("code") or "card_declined",
                     error.get("decline_code"), charge=error.get("charge"), payment_intent=store.render(pi))


# -- subscriptions ---------------------------------------------------------------------
def _trial_end(params: dict[str, Any], start: int) -> int | None:
    if params.get("trial_end") not in (None, ""):
        if params["trial_end"] == "now":
            return None
        end = _int(params["trial_end"], "trial_end")
        if end <= start:
            raise invalid("Invalid timestamp: must be an integer Unix timestamp in the future.", "trial_end")
        return end
    if params.get("trial_period_days") not in (None, ""):
        days = _int(params["trial_period_days"], "trial_period_days")
        return start + days * _DAY if days else None
    return None


def create_subscription(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/subscriptions``: the subscription, its first invoice and its payment, with Stripe's events."""
    customer_id = params.get("customer")
    if not customer_id:
        raise missing("customer")
    if store.get("customer", customer_id) is None:
        raise no_such("customer", customer_id, "customer")
    raw_items = params.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise missing("items")
    behavior = params.get("payment_behavior") or "allow_incomplete"
    if behavior not in BEHAVIORS:
        raise invalid(f"Invalid payment_behavior: must be one of {', '.join(BEHAVIORS)}", "payment_behavior")
    if behavior == "pending_if_incomplete":
        raise invalid("payment_behavior=pending_if_incomplete can only be used when updating a subscription.",
                      "payment_behavior")
    if (params.get("collection_method") or "charge_automatically") != "charge_automatically":
        raise invalid("The local Stripe emulator bills subscriptions with collection_method=charge_automatically "
                      "only.", "collection_method")
    prices = [_item_price(store, raw, f"items[{i}]") for i, raw in enumerate(raw_items)]
    quantities = [_int(raw.get("quantity", 1), f"items[{i}][quantity]", 1) for i, raw in enumerate(raw_items)]
    _check_prices(prices)
    default_pm = params.get("default_payment_method") or None
    _check_default(store, customer_id, default_pm)
    start = now()
    trial_end = _trial_end(params, start)
    pm_id = default_pm or wallet.default_payment_method(store, customer_id)
    pm = store.get("payment_method", pm_id) if pm_id else None
    amount = sum(p["unit_amount"] * q for p, q in zip(prices, quantities, strict=True))
    charging = amount > 0 and trial_end is None
    if charging and pm is None and behavior != "default_incomplete":
        raise invalid(NO_PAYMENT_METHOD, code="resource_missing")
    if charging and pm is not None and behavior == "error_if_incomplete":
        card = payments.card_for(store.state["pm_cards"].get(pm["id"], "4242424242424242"))
        if card.outcome in payments.DECLINES:
            raise card_error(payments.DECLINES[card.outcome][0], "card_declined", card.outcome)
        if card.outcome == "3ds":
            raise card_error("Your card was declined. This transaction requires authentication.",
                             "authentication_required", "authentication_required")
    recurring = prices[0]["recurring"]
    end = trial_end or next_period_end(start, start, recurring)
    sub_id = new_id("sub")
    metadata = {k: v for k, v in (params.get("metadata") or {}).items() if v != ""}
    sub = build("subscription", {
        "id": sub_id, "created": start, "customer": customer_id, "currency": prices[0]["currency"], "status": "incomplete",
        "billing_cycle_anchor": end if trial_end else start, "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"}, "billing_schedules": [], "billing_thresholds": None,
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "days_until_due": None, "default_payment_method": default_pm,
        "description": params.get("description") or None, "discounts": [], "ended_at": None, "latest_invoice": None,
        "managed_payments": None, "metadata": metadata, "next_pending_invoice_item_invoice": None,
        "pause_collection": None, "pending_invoice_item_interval": None, "pending_setup_intent": None,
        "pending_update": None, "start_date": start, "transfer_data": None,
        "trial_end": trial_end, "trial_start": start if trial_end else None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
    })
    sub["items"] = {"object": "list", "has_more": False, "total_count": len(prices),
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                    "data": [_new_item(sub_id, p, q, start, end, (raw.get("metadata") or {}))
                             for p, q, raw in zip(prices, quantities, raw_items, strict=True)]}
    store.put(sub)
    invoice = new_invoice(store, sub, "subscription_create", (start, start), (start, end), trial=trial_end is not None)
    sub["latest_invoice"] = invoice["id"]
    finalize(store, invoice)
    outcome = collect(store, invoice, pm, attempt=behavior != "default_incomplete")
    if outcome == "paid":
        sub["status"] = "trialing" if trial_end else "active"
    store.emit("customer.subscription.created", sub)
    return sub


def update_subscription(store: Store, sub: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/subscriptions/{id}``: metadata, default payment method, cancel_at_period_end, cancel_at, items."""
    changing = set(params) - {"expand", "metadata", "cancellation_details", "proration_behavior", "payment_behavior"}
    if sub["status"] in ("canceled", "incomplete_expired") and changing:
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    if sub["status"] == "incomplete" and changing - {"default_payment_method", "description"}:
        raise invalid("A subscription that is `incomplete` can only update its metadata, description and "
                      "default_payment_method until its first invoice is paid.")
    previous: dict[str, Any] = {}

    def remember(*fields: str) -> None:
        for field in fields:
            previous.setdefault(field, copy.deepcopy(sub.get(field)))

    if "metadata" in params:
        remember("metadata")
        _merge_metadata(sub["metadata"], params["metadata"])
    if "description" in params:
        remember("description")
        sub["description"] = params["description"] or None
    if "default_payment_method" in params:
        pm_id = params["default_payment_method"] or None
        _check_default(store, sub["customer"], pm_id)
        remember("default_payment_method")
        sub["default_payment_method"] = pm_id
    if isinstance(params.get("cancellation_details"), dict):
        remember("cancellation_details")
        for key in ("comment", "feedback"):
            if key in params["cancellation_details"]:
                sub["cancellation_details"][key] = params["cancellation_details"][key] or None
    if "items" in params:
        remember("items")
        _update_items(store, sub, params["items"])
    if "cancel_at_period_end" in params or "cancel_at" in params:
        remember("cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details")
        _schedule_cancel(sub, params)
    changed = {k: v for k, v in previous.items() if v != sub.get(k)}
    if changed:
        store.emit("customer.subscription.updated", sub, previous_attributes=changed)
    return sub


def _schedule_cancel(sub: dict[str, Any], params: dict[str, Any]) -> None:
    _, end = _period(sub)
    cancel_at: int | None
    if params.get("cancel_at") not in ("", None):
        cancel_at = end if params["cancel_at"] == "max_period_end" else _int(params["cancel_at"], "cancel_at")
        if cancel_at <= now():
            raise invalid("Invalid timestamp: must be an integer Unix timestamp in the future.", "cancel_at")
        at_period_end = False
    elif "cancel_at_period_end" in params:
        at_period_end = str(params["cancel_at_period_end"]).lower() == "true"
        cancel_at = end if at_period_end else None
    else:  # cancel_at="" clears it
        at_period_end, cancel_at = False, None
    sub.update(cancel_at_period_end=at_period_end, cancel_at=cancel_at)
    if cancel_at is None:
        sub["canceled_at"] = None
        sub["cancellation_details"]["reason"] = None
    else:
        sub["canceled_at"] = now()
        sub["cancellation_details"]["reason"] = "cancellation_requested"


def _update_items(store: Store, sub: dict[str, Any], raw_items: Any) -> None:
    if not isinstance(raw_items, list):
        raise invalid("Invalid array", "items")
    items = sub["items"]["data"]
    start, end = _period(sub)
    for i, raw in enumerate(raw_items):
        param = f"items[{i}]"
        if not isinstance(raw, dict):
            raise invalid(f"Invalid {param}: must be an object", param)
        existing = next((si for si in items if si["id"] == raw.get("id")), None) if raw.get("id") else None
        if raw.get("id") and existing is None:
            raise no_such("subscription_item", raw["id"], f"{param}[id]")
        if existing is not None and str(raw.get("deleted")).lower() == "true":
            items.remove(existing)
            continue
        if existing is not None:
            if raw.get("price") or raw.get("price_data"):
                existing["price"] = copy.deepcopy(_item_price(store, raw, param))
            if "quantity" in raw:
                existing["quantity"] = _int(raw["quantity"], f"{param}[quantity]", 1)
            if isinstance(raw.get("metadata"), dict):
                _merge_metadata(existing["metadata"], raw["metadata"])
        else:
            price = _item_price(store, raw, param)
            items.append(_new_item(sub["id"], price, _int(raw.get("quantity", 1), f"{param}[quantity]", 1), start, end,
                                   raw.get("metadata") if isinstance(raw.get("metadata"), dict) else None))
    if not items:
        raise invalid("A subscription must have at least one active item.", "items")
    _check_prices([si["price"] for si in items])
    sub["items"]["total_count"] = len(items)


def cancel_subscription(store: Store, sub: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``DELETE /v1/subscriptions/{id}``: canceled now (``customer.subscription.deleted``)."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(f"The subscription {sub['id']} has already been canceled.")
    _end(store, sub, "cancellation_requested")
    if isinstance(params.get("cancellation_details"), dict):
        for key in ("comment", "feedback"):
            if key in params["cancellation_details"]:
                sub["cancellation_details"][key] = params["cancellation_details"][key] or None
    store.emit("customer.subscription.deleted", sub)
    return sub


def _end(store: Store, sub: dict[str, Any], reason: str) -> None:
    when = now()
    sub.update(status="canceled", ended_at=when, canceled_at=sub.get("canceled_at") or when)
    sub["cancellation_details"]["reason"] = sub["cancellation_details"].get("reason") or reason


def list_subscriptions_filter(params: dict[str, Any]) -> Any:
    """Stripe's ``status`` filter: canceled subscriptions only when asked (``canceled`` or ``all``)."""
    wanted = params.get("status")
    price = params.get("price")

    def keep(sub: dict[str, Any]) -> bool:
        if price and all(si["price"]["id"] != price for si in sub["items"]["data"]):
            return False
        if wanted == "all":
            return True
        if wanted:
            return bool(sub["status"] == wanted)
        return sub["status"] not in ("canceled", "incomplete_expired")

    return keep


# -- time passing ---------------------------------------------------------------------
def _due(sub: dict[str, Any]) -> tuple[int, str] | None:
    """When the subscription next needs the clock, and for what."""
    if sub["status"] == "incomplete":
        return int(sub["created"]) + INCOMPLETE_SECONDS, "expire"
    if sub["status"] not in _LIVE:
        return None
    _, end = _period(sub)
    if sub.get("cancel_at") and int(sub["cancel_at"]) <= end:
        return int(sub["cancel_at"]), "cancel"
    return end, "renew"


def renew(store: Store, sub: dict[str, Any]) -> dict[str, Any]:
    """Start the next period: ``customer.subscription.updated``, then its invoice, charged off-session."""
    start, end = _period(sub)
    old_items = copy.deepcopy(sub["items"])
    next_end = next_period_end(int(sub["billing_cycle_anchor"]), end, sub["items"]["data"][0]["price"]["recurring"])
    for item in sub["items"]["data"]:
        item.update(current_period_start=end, current_period_end=next_end)
    previous: dict[str, Any] = {"items": old_items, "latest_invoice": sub.get("latest_invoice")}
    invoice_id = new_id("in")  # named before the event, as Stripe's update already points at the new invoice
    sub["latest_invoice"] = invoice_id
    if sub["status"] == "trialing":
        previous["status"] = "trialing"
        sub["status"] = "active"
    store.emit("customer.subscription.updated", sub, previous_attributes=previous)
    invoice = new_invoice(store, sub, "subscription_cycle", (start, end), (end, next_end), invoice_id=invoice_id)
    finalize(store, invoice)
    outcome = collect(store, invoice, _payment_method_for(store, sub), off_session=True)
    if outcome != "paid" and sub["status"] == "active":
        _set_status(store, sub, "past_due")
    return invoice


def _expire(store: Store, sub: dict[str, Any]) -> None:
    """An incomplete subscription's first invoice went unpaid for 23 hours: void it, ``incomplete_expired``."""
    invoice = store.get("invoice", sub.get("latest_invoice") or "")
    if invoice is not None and invoice["status"] == "open":
        invoice.update(status="void", amount_remaining=0, next_payment_attempt=None, auto_advance=False)
        invoice["status_transitions"]["voided_at"] = now()
        store.emit("invoice.voided", invoice)
        pi = invoice_intent(store, invoice["id"])
        if pi is not None and pi["status"] not in ("succeeded", "canceled"):
            payments.cancel(store, pi, "void_invoice")
    when = now()
    previous = {"status": sub["status"], "canceled_at": sub.get("canceled_at"), "ended_at": sub.get("ended_at")}
    sub.update(status="incomplete_expired", canceled_at=when, ended_at=when)
    store.emit("customer.subscription.updated", sub, previous_attributes=previous)


def advance_to(store: Store, target: int) -> dict[str, Any]:
    """Move the clock to ``target``, running each renewal, cancellation and expiry at its own time, oldest first."""
    done: dict[str, list[str]] = {"renewed": [], "canceled": [], "expired": []}
    for _ in range(MAX_STEPS):
        due = []
        for sub in store.table("subscription").values():
            next_due = _due(sub)
            if next_due is not None and next_due[0] <= target:
                due.append((next_due[0], next_due[1], sub))
        if not due:
            break
        when, action, sub = min(due, key=lambda d: d[0])
        with clock.frozen_at(store, when):
            if action == "renew":
                done["renewed"].append(renew(store, sub)["id"])
            elif action == "cancel":
                _end(store, sub, "cancellation_requested")
                store.emit("customer.subscription.deleted", sub)
                done["canceled"].append(sub["id"])
            else:
                _expire(store, sub)
                done["expired"].append(sub["id"])
    else:
        raise ValueError(f"stopped after {MAX_STEPS} renewals at {clock.now_of(store)}: advance in smaller steps")
    clock.move_to(store, target)
    return done


# -- shapes by API version ---------------------------------------------------------------------
def shape(store: Store, out: dict[str, Any], version: str) -> None:
    """Add what API versions before basil carried: subscription periods, invoice payment_intent/charge/paid."""
    if version[:10] >= BASIL:
        return
    kind = out.get("object")
    if kind == "subscription" and out.get("items", {}).get("data"):
        first = out["items"]["data"][0]
        out.setdefault("current_period_start", first.get("current_period_start"))
        out.setdefault("current_period_end", first.get("current_period_end"))
    elif kind == "invoice" and str(out.get("id", "")).startswith("in_"):
        pi = invoice_intent(store, out["id"])
        out.setdefault("payment_intent", pi["id"] if pi else None)
        out.setdefault("charge", pi.get("latest_charge") if pi and pi["status"] == "succeeded" else None)
        out.setdefault("paid", out.get("status") == "paid")
        details = (out.get("parent") or {}).get("subscription_details") or {}
        out.setdefault("subscription_details", {"metadata": details.get("metadata")} if details else None)
    elif kind == "event" and out.get("type", "").startswith("customer.subscription."):
        previous = (out.get("data") or {}).get("previous_attributes") or {}
        items = (previous.get("items") or {}).get("data") if isinstance(previous.get("items"), dict) else None
        if items:
            previous.setdefault("current_period_start", items[0].get("current_period_start"))
            previous.setdefault("current_period_end", items[0].get("current_period_end"))


def includable(store: Store, invoice: dict[str, Any], field: str, version: str) -> Any:
    """An invoice's ``payments`` or ``confirmation_secret``, present only when expanded (basil and later)."""
    if version[:10] < BASIL:
        raise invalid(f"This property cannot be expanded ({field}).", "expand")
    intents = [pi for pi in store.table("payment_intent").values() if pi.get("invoice") == invoice["id"]]
    if field == "confirmation_secret":
        pi = intents[-1] if intents else None
        if pi is None or invoice.get("status") != "open":
            return None
        return {"client_secret": pi["client_secret"], "type": "payment_intent"}
    data = []
    for i, pi in enumerate(intents):
        status = {"succeeded": "paid", "canceled": "canceled"}.get(pi["status"], "open")
        payment = build("invoice_payment", {
            "id": "inpay_" + pi["id"][3:], "amount_paid": pi["amount"] if status == "paid" else None,
            "amount_requested": pi["amount"], "created": pi["created"], "currency": pi["currency"],
            "invoice": invoice["id"], "is_default": i == len(intents) - 1, "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": pi["id"]}, "status": status,
            "status_transitions": {"canceled_at": pi.get("canceled_at"),
                                   "paid_at": invoice["status_transitions"].get("paid_at") if status == "paid" else None}})
        data.append(payment)
    return {"object": "list", "data": list(reversed(data)), "has_more": False,
            "url": f"/v1/invoice_payments?invoice={invoice['id']}"}
