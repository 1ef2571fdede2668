"""What a paid subscription-mode Checkout Session creates: a subscription and its first invoice."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from smoke.emulator.billing import next_period_end
from smoke.emulator.objects import build, now
from smoke.events import new_id

if TYPE_CHECKING:
    from smoke.emulator.store import Store


def start_subscription(store: Store, session: dict[str, Any], pi: dict[str, Any], customer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create the subscription (incomplete → active) and its paid first invoice, with Stripe's events."""
    items = store.state["line_items"][session["id"]]
    extra = store.state["session_params"].get(session["id"], {})
    start = now()
    recurring = next(it["price"]["recurring"] for it in items if it["price"]["recurring"])
    end = next_period_end(start, start, recurring)
    sub_id = new_id("sub")
    invoice_id = new_id("in")
    sub = build("subscription", {
        "id": sub_id, "customer": customer, "currency": session["currency"], "status": "incomplete",
        "billing_cycle_anchor": start, "billing_cycle_anchor_config": None, "billing_schedules": [],
        "billing_thresholds": None, "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "default_payment_method": pi.get("payment_method"), "ended_at": None, "latest_invoice": invoice_id,
        "managed_payments": None, "next_pending_invoice_item_invoice": None, "pause_collection": None,
        "pending_invoice_item_interval": None, "pending_update": None, "start_date": start, "transfer_data": None,
        "trial_end": None, "trial_start": None,
        "metadata": dict((extra.get("subscription_data") or {}).get("metadata") or {}),
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
    })
    template = sub["items"]["data"][0]
    sub["items"] = {"object": "list", "has_more": False, "total_count": len(items),
                    "url": f"/v1/subscription_items?subscription={sub_id}", "data": [
                        dict(copy.deepcopy(template), id=new_id("si", 14), created=start, current_period_start=start,
                             current_period_end=end, price=copy.deepcopy(it["price"]), quantity=it["quantity"],
                             subscription=sub_id, billing_thresholds=None, plan=None)
                        for it in items]}
    for item in sub["items"]["data"]:
        item.pop("plan", None)
    store.put(sub)
    store.emit("customer.subscription.created", sub)

    invoice = build("invoice", {
        "id": invoice_id, "customer": customer, "currency": session["currency"], "status": "draft",
        "amount_due": session["amount_total"], "amount_paid": 0, "amount_remaining": session["amount_total"],
        "amount_overpaid": 0, "subtotal": session["amount_total"], "subtotal_excluding_tax": session["amount_total"],
        "total": session["amount_total"], "total_excluding_tax": session["amount_total"],
        "billing_reason": "subscription_create", "customer_email": (session.get("customer_details") or {}).get("email"),
        "customer_name": (session.get("customer_details") or {}).get("name"), "due_date": None, "effective_at": None,
        "from_invoice": None, "last_finalization_error": None, "next_payment_attempt": None, "period_start": start,
        "period_end": start, "shipping_cost": None, "webhooks_delivered_at": None, "attempt_count": 0, "attempted": False,
        "subscription": sub_id, "parent": {"quote_details": None, "type": "subscription_details",
                                           "subscription_details": {"metadata": sub["metadata"], "subscription": sub_id}},
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
    })
    line = invoice["lines"]["data"][0]
    invoice["lines"] = {"object": "list", "has_more": False, "total_count": len(items),
                        "url": f"/v1/invoices/{invoice_id}/lines", "data": [
                            dict(copy.deepcopy(line), id=new_id("il"), amount=it["amount_total"],
                                 currency=it["currency"], description=f"{it['quantity']} × {it['description']}",
                                 invoice=invoice_id, period={"start": start, "end": end}, quantity=it["quantity"],
                                 subtotal=it["amount_total"], subscription=sub_id,
                                 pricing={"price_details": {"price": it["price"]["id"], "product": it["price"]["product"]},
                                          "type": "price_details", "unit_amount_decimal": it["price"]["unit_amount_decimal"]},
                                 parent={"invoice_item_details": None, "type": "subscription_item_details",
                                         "subscription_item_details": {"invoice_item": None, "proration": False,
                                                                       "proration_details": {"credited_items": None},
                                                                       "subscription": sub_id,
                                                                       "subscription_item": si["id"]}})
                            for it, si in zip(items, sub["items"]["data"], strict=False)]}
    store.put(invoice)
    store.emit("invoice.created", invoice)
    invoice.update(status="open", number=f"{new_id('x', 9)[2:].upper()}-0001", effective_at=start,
                   hosted_invoice_url=None, invoice_pdf=None)
    invoice["status_transitions"]["finalized_at"] = start
    store.emit("invoice.finalized", invoice)
    pi["invoice"] = invoice_id  # kept for older readers; basil lists it under invoice payments
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, attempt_count=1,
                   attempted=True)
    invoice["status_transitions"]["paid_at"] = now()
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)
    sub["status"] = "active"
    store.emit("customer.subscription.updated", sub, previous_attributes={"status": "incomplete"})
    return sub, invoice
