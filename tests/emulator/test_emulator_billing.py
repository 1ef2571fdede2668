"""Server-side billing on the emulator through the official SDK: saved cards, SetupIntents, subscriptions, the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe
from _emulator_helpers import pay_via_cli_route, register
from _emulator_receiver import Receiver

from smoke.emulator import RunningEmulator
from smoke.emulator.clock import advance, clock_now

from _wait import wait_until

OLD_VERSION = "2024-06-20"  # before basil: periods on the subscription, invoice.payment_intent
DAY = 86400


def _types(client: stripe.StripeClient, since: str | None = None) -> list[str]:
    """Event types oldest first (after event ``since`` when given)."""
    events = list(reversed(client.v1.events.list(params={"limit": 100}).data))
    if since is not None:
        events = events[[e.id for e in events].index(since) + 1:]
    return [e.type for e in events]


def _customer(client: stripe.StripeClient, card: str = "pm_card_visa") -> tuple[Any, Any]:
    """A customer whose default payment method is ``card``, saved as an app would: attach, then make it the default."""
    customer = client.v1.customers.create(params={"email": "sub@example.test", "name": "Ada"})
    pm = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    customer = client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return customer, pm


def _monthly(client: stripe.StripeClient, amount: int = 900) -> Any:
    return client.v1.prices.create(params={"currency": "usd", "unit_amount": amount, "recurring": {"interval": "month"},
                                           "product_data": {"name": "Pro"}})


def test_attach_a_payment_method_and_make_it_the_default(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "pm@example.test"})
    with pytest.raises(stripe.InvalidRequestError) as not_yet:
        client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    assert not_yet.value.code == "resource_missing" and not_yet.value.param == "invoice_settings[default_payment_method]"
    assert "must be attached to the customer" in str(not_yet.value.user_message)
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert isinstance(pm, stripe.PaymentMethod) and pm.id.startswith("pm_") and pm.id != "pm_card_visa"
    assert pm.customer == customer.id and pm.card.last4 == "4242"
    updated = client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    assert updated.invoice_settings.default_payment_method == pm.id
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [p.id for p in listed.data] == [pm.id]
    assert [p.id for p in client.v1.customers.payment_methods.list(customer.id).data] == [pm.id]
    # A card that declines can't be saved; the one made to decline later can.
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    assert declined.value.code == "card_declined" and declined.value.error.decline_code == "generic_decline"
    later = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    assert later.card.last4 == "0341"
    other = client.v1.customers.create(params={"email": "other@example.test"})
    with pytest.raises(stripe.InvalidRequestError, match="already been attached"):
        client.v1.payment_methods.attach(pm.id, params={"customer": other.id})
    # Detaching the default clears it.
    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError, match="not attached to a customer"):
        client.v1.payment_methods.detach(pm.id)
    assert [p.id for p in client.v1.payment_methods.list(params={"customer": customer.id}).data] == [later.id]
    events = client.v1.events.list(params={"limit": 100}).data
    change = next(e for e in events if e.type == "customer.updated"
                  and e.data.object.invoice_settings.default_payment_method == pm.id)
    assert change.data.previous_attributes.invoice_settings.default_payment_method is None
    assert [e.type for e in events if e.type.startswith("payment_method.")].count("payment_method.attached") == 2
    assert "payment_method.detached" in [e.type for e in events]


def test_setup_intent_saves_a_card_and_a_declining_one_fails(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "seti@example.test"})
    seti = client.v1.setup_intents.create(params={"customer": customer.id, "payment_method": "pm_card_visa",
                                                  "confirm": True, "usage": "off_session", "metadata": {"plan": "pro"}})
    assert isinstance(seti, stripe.SetupIntent) and seti.id.startswith("seti_") and seti.status == "succeeded"
    assert seti.usage == "off_session" and seti.client_secret.startswith(seti.id + "_secret_")
    assert client.v1.payment_methods.retrieve(seti.payment_method).customer == customer.id
    assert client.v1.setup_intents.retrieve(seti.id).metadata["plan"] == "pro"
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.setup_intents.confirm(seti.id)
    assert again.value.code == "setup_intent_unexpected_state"

    pending = client.v1.setup_intents.create(params={"customer": customer.id})
    assert pending.status == "requires_payment_method"
    with pytest.raises(stripe.CardError) as declined:
        client.v1.setup_intents.confirm(pending.id, params={"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.code == "card_declined" and declined.value.error.setup_intent.id == pending.id
    failed = client.v1.setup_intents.retrieve(pending.id)
    assert failed.status == "requires_payment_method" and failed.last_setup_error.decline_code == "generic_decline"
    canceled = client.v1.setup_intents.cancel(pending.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError, match="status of canceled"):
        client.v1.setup_intents.cancel(pending.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.setup_intents.retrieve("seti_missing")
    assert missing.value.http_status == 404 and "No such setupintent" in str(missing.value.user_message)
    assert [s.id for s in client.v1.setup_intents.list(params={"customer": customer.id}).data] == [pending.id, seti.id]
    types = _types(client)
    assert types.count("setup_intent.created") == 2
    assert {"setup_intent.succeeded", "setup_intent.setup_failed", "setup_intent.canceled"} <= set(types)


def test_subscription_created_server_side_pays_its_first_invoice(client: stripe.StripeClient) -> None:
    customer, pm = _customer(client)
    price = _monthly(client)
    bare = client.v1.customers.create(params={"email": "bare@example.test"})
    with pytest.raises(stripe.InvalidRequestError, match="no attached payment source or default payment method"):
        client.v1.subscriptions.create(params={"customer": bare.id, "items": [{"price": price.id}]})
    mark = client.v1.events.list(params={"limit": 1}).data[0].id
    # The pattern older integrations use: the first payment expanded on the answer (API versions before basil).
    sub = client.v1.subscriptions.create(params={
        "customer": customer.id, "items": [{"price": price.id, "quantity": 2}], "metadata": {"user_id": "u1"},
        "payment_behavior": "allow_incomplete", "expand": ["latest_invoice.payment_intent"]},
        options={"stripe_version": OLD_VERSION})
    assert isinstance(sub, stripe.Subscription) and sub.status == "active" and sub.metadata["user_id"] == "u1"
    assert sub.current_period_end > sub.current_period_start and sub.default_payment_method is None
    invoice = sub.latest_invoice
    assert invoice.status == "paid" and invoice.amount_paid == 1800 and invoice.billing_reason == "subscription_create"
    assert invoice.payment_intent.status == "succeeded" and invoice.payment_intent.payment_method == pm.id
    charge = client.v1.charges.retrieve(invoice.payment_intent.latest_charge)
    assert charge.amount == 1800 and charge.paid and charge.customer == customer.id
    # basil and later: no invoice.payment_intent; the payments are listed when expanded.
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded \(payment_intent\)"):
        client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice.payment_intent"]})
    current = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice.payments"]})
    assert current.latest_invoice.payments.data[0].payment.payment_intent == invoice.payment_intent.id
    assert current["items"].data[0].current_period_end == sub.current_period_end
    assert current.latest_invoice.parent.subscription_details.metadata["user_id"] == "u1"
    assert set(_types(client, mark)) >= {
        "invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded", "payment_intent.created",
        "payment_intent.succeeded", "charge.succeeded", "customer.subscription.created"}
    # Retrieve, update, list, cancel.
    later = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True, "metadata": {"seats": "2"}})
    assert later.cancel_at_period_end and later.cancel_at == sub.current_period_end and later.canceled_at
    resumed = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert resumed.cancel_at is None and resumed.metadata.to_dict() == {"user_id": "u1", "seats": "2"}
    bigger = _monthly(client, 1500)
    item = resumed["items"].data[0]
    moved = client.v1.subscriptions.update(sub.id, params={"items": [{"id": item.id, "price": bigger.id}]})
    assert moved["items"].data[0].price.id == bigger.id and moved["items"].data[0].id == item.id
    updated = client.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert updated.data.previous_attributes["items"].data[0].price.id == price.id
    assert [s.id for s in client.v1.subscriptions.list(params={"customer": customer.id}).data] == [sub.id]
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.ended_at and canceled.cancellation_details.reason == "cancellation_requested"
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert [s.id for s in client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"}).data] == [sub.id]
    assert client.v1.events.list(params={"limit": 1}).data[0].type == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError, match="canceled subscription"):
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})


def test_declining_default_payment_method_leaves_the_subscription_incomplete(client: stripe.StripeClient,
                                                                              emulator: RunningEmulator) -> None:
    customer, _ = _customer(client, "pm_card_chargeCustomerFail")
    price = _monthly(client)
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}],
                                                 "expand": ["latest_invoice.payments"]})
    assert sub.status == "incomplete" and sub.latest_invoice.status == "open" and sub.latest_invoice.attempt_count == 1
    assert sub.latest_invoice.payments.data[0].status == "open"
    types = _types(client)
    assert {"invoice.payment_failed", "payment_intent.payment_failed", "charge.failed"} <= set(types)
    assert "invoice.paid" not in types
    with pytest.raises(stripe.CardError) as refused:
        client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}],
                                               "payment_behavior": "error_if_incomplete"})
    assert refused.value.code == "card_declined"
    assert len(client.v1.subscriptions.list(params={"customer": customer.id}).data) == 1
    # default_incomplete: the client confirms the first payment; the subscription then starts.
    waiting = client.v1.subscriptions.create(params={
        "customer": customer.id, "items": [{"price": price.id}], "payment_behavior": "default_incomplete",
        "expand": ["latest_invoice.confirmation_secret", "latest_invoice.payments"]})
    assert waiting.status == "incomplete" and waiting.latest_invoice.confirmation_secret.type == "payment_intent"
    intent = waiting.latest_invoice.payments.data[0].payment.payment_intent
    assert waiting.latest_invoice.confirmation_secret.client_secret.startswith(intent + "_secret_")
    client.v1.payment_intents.confirm(intent, params={"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(waiting.id).status == "active"
    assert client.v1.invoices.retrieve(waiting.latest_invoice.id).status == "paid"
    # An incomplete subscription expires when its first invoice stays unpaid for 23 hours.
    moved = advance(emulator.url, DAY)
    assert moved["expired"] == [sub.id]
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert client.v1.invoices.retrieve(sub.latest_invoice.id).status == "void"


def test_advancing_the_clock_renews_once_per_period(client: stripe.StripeClient, emulator: RunningEmulator,
                                                    receiver: Callable[..., Receiver], control: httpx.Client) -> None:
    rec = receiver()
    register(client, rec)
    customer, pm = _customer(client)
    price = _monthly(client)
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})
    first_start, first_end = sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end
    assert first_start == sub.created and clock_now(emulator.url) - first_start < 5
    with pytest.raises(ValueError, match="only moves forward"):
        advance(emulator.url, -1)
    assert control.post("/_emulator/clock/advance", json={"seconds": 1, "to": 2}).status_code == 400
    assert advance(emulator.url, 3600)["renewed"] == []  # an hour on: nothing due

    renewed = []
    for _ in range(2):
        period_end = client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end
        result = advance(emulator.url, to=period_end + 60)
        assert len(result["renewed"]) == 1 and result["now"] == period_end + 60
        renewed.append(client.v1.invoices.retrieve(result["renewed"][0]))
    assert [i.billing_reason for i in renewed] == ["subscription_cycle"] * 2
    assert all(i.status == "paid" and i.amount_paid == 900 for i in renewed)
    assert renewed[0].created == first_end and renewed[0].lines.data[0].period.start == first_end
    assert renewed[1].lines.data[0].period.start == renewed[0].lines.data[0].period.end
    current = client.v1.subscriptions.retrieve(sub.id)
    assert current.status == "active" and current.latest_invoice == renewed[1].id
    assert current["items"].data[0].current_period_start == renewed[0].lines.data[0].period.end
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert len(invoices) == 3 and len(client.v1.charges.list(params={"customer": customer.id}).data) == 3
    assert all(client.v1.payment_intents.retrieve(c.payment_intent).payment_method == pm.id
               for c in client.v1.charges.list(params={"customer": customer.id}).data)
    # Each renewal's events reach the endpoint, signed; the update carries the previous period.
    wanted = {"invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"}
    for invoice in renewed:
        wait_until(lambda inv=invoice: wanted <= {e["type"] for e in rec.events()
                                                  if e["data"]["object"]["id"] == inv.id},
                   message=f"the events of renewal {invoice.id} arrive")
    updates = wait_until(lambda: [e for e in rec.events("customer.subscription.updated")
                                  if "latest_invoice" in e["data"]["previous_attributes"]][:2] or None,
                         message="the subscription updates arrive")
    updates.sort(key=lambda e: e["data"]["object"]["items"]["data"][0]["current_period_start"])
    first = updates[0]["data"]
    assert first["object"]["latest_invoice"] == renewed[0].id
    assert first["previous_attributes"]["items"]["data"][0]["current_period_end"] == first_end
    assert first["previous_attributes"]["latest_invoice"] == sub.latest_invoice
    # Older API versions (and endpoints pinned to one) see the periods on the subscription itself.
    old_update = client.v1.events.retrieve(updates[0]["id"], options={"stripe_version": OLD_VERSION})
    assert old_update.data.previous_attributes.current_period_start == first_start
    assert old_update.data.object.current_period_start == first_end


def test_a_failed_renewal_makes_it_past_due_until_the_invoice_is_paid(client: stripe.StripeClient,
                                                                        emulator: RunningEmulator) -> None:
    customer, _ = _customer(client)
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": _monthly(client).id}]})
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": failing.id})
    result = advance(emulator.url, to=sub["items"].data[0].current_period_end + 1)
    current = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert current.status == "past_due" and current.latest_invoice.id == result["renewed"][0]
    assert current.latest_invoice.status == "open" and current.latest_invoice.next_payment_attempt
    assert client.v1.events.list(params={"type": "invoice.payment_failed", "limit": 1}).data[0].data.object.id == current.latest_invoice.id
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(current.latest_invoice.id)
    paid = client.v1.invoices.pay(current.latest_invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and client.v1.subscriptions.retrieve(sub.id).status == "active"
    # Canceled at the period's end: no renewal, customer.subscription.deleted instead.
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    end = client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end
    result = advance(emulator.url, to=end + 1)
    assert result["canceled"] == [sub.id] and result["renewed"] == []
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == end
    assert client.v1.events.list(params={"limit": 1}).data[0].type == "customer.subscription.deleted"


def test_a_trial_and_a_checkout_subscription_renew_too(client: stripe.StripeClient, emulator: RunningEmulator) -> None:
    customer, _ = _customer(client)
    price = _monthly(client)
    trial = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}],
                                                   "trial_period_days": 7, "expand": ["latest_invoice"]})
    assert trial.status == "trialing" and trial.trial_end == trial.start_date + 7 * DAY
    assert trial.latest_invoice.status == "paid" and trial.latest_invoice.amount_paid == 0
    assert client.v1.charges.list(params={"customer": customer.id}).data == []
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}], "customer_email": "co@example.test",
        "success_url": "http://127.0.0.1/s"})
    pay_via_cli_route(client, session.id)
    bought = client.v1.checkout.sessions.retrieve(session.id).subscription
    result = advance(emulator.url, 7 * DAY + 60)
    assert [client.v1.invoices.retrieve(i).subscription for i in result["renewed"]] == [trial.id]
    ended = client.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert ended.data.object.status == "active" and ended.data.previous_attributes.status == "trialing"
    assert client.v1.invoices.retrieve(result["renewed"][0]).amount_paid == 900
    checkout_end = client.v1.subscriptions.retrieve(bought)["items"].data[0].current_period_end
    result = advance(emulator.url, to=checkout_end + 60)
    assert bought in [client.v1.invoices.retrieve(i).subscription for i in result["renewed"]]
    assert client.v1.subscriptions.retrieve(bought).status == "active"


def test_a_subscription_created_through_the_sdk_renews_and_the_target_books_the_renewal_once() -> None:
    """The subscriptions reference target, wired to the emulator as a deployment would be, books each renewal once."""
    from smoke.embedded import start_embedded
    from smoke.events import to_body
    from smoke.profiles import load_profile
    from smoke.signing import delivery_headers

    profile = load_profile("subscriptions")
    running = start_embedded(profile)
    try:
        assert running.stripe_api_base and running.stripe_api_key
        api = running.stripe_api_base
        client = stripe.StripeClient(running.stripe_api_key, base_addresses={"api": api}, max_network_retries=0)
        with httpx.Client(base_url=running.base_url, timeout=10) as http:
            user = http.post("/api/auth/register", json={"email": "renew@example.test", "password": "long-enough-1"})
            auth = {"Authorization": f"Bearer {user.json()['access_token']}"}

            def state() -> dict[str, Any]:
                answer = http.get("/api/payments", headers=auth)
                assert answer.status_code == 200, answer.text
                result: dict[str, Any] = answer.json()
                return result

            customer, _ = _customer(client)
            sub = client.v1.subscriptions.create(params={
                "customer": customer.id, "items": [{"price": _monthly(client).id}],
                "metadata": {"user_id": user.json()["user"]["id"]}})
            assert sub.status == "active"
            wait_until(lambda: (state()["subscription"] or {}).get("status") == "active",
                       message="the target learns the subscription is active")
            assert state()["renewals"] == []  # the first invoice starts the subscription; it is no renewal

            result = advance(api, to=sub["items"].data[0].current_period_end + 60)
            renewal = result["renewed"][0]
            events = [e for e in client.v1.events.list(params={"type": "invoice.*", "limit": 100}).data
                      if e.data.object.id == renewal and e.type in ("invoice.paid", "invoice.payment_succeeded")]
            assert sorted(e.type for e in events) == ["invoice.paid", "invoice.payment_succeeded"]
            for event in events:
                wait_until(lambda ev=event: client.v1.events.retrieve(ev.id).pending_webhooks == 0,
                           message=f"the target acknowledges {event.type} of the renewal")
            # Stripe may deliver an event again: the same invoice.paid, signed, once more.
            paid = next(e for e in events if e.type == "invoice.paid")
            stored = httpx.get(f"{api}/v1/events/{paid.id}", timeout=10, headers={
                "Authorization": f"Bearer {running.stripe_api_key}", "Stripe-Version": profile.api_version})
            body = to_body(stored.json())
            again = http.post(profile.webhook_path, content=body, headers=delivery_headers(body, running.webhook_secret))
            assert again.status_code == 200 and again.json().get("duplicate") is True

            booked = state()
            assert [(r["invoice_id"], r["amount_cents"]) for r in booked["renewals"]] == [(renewal, 900)]
            assert booked["renewals_total_cents"] == 900 and booked["paid_total_cents"] == 0
            period = client.v1.invoices.retrieve(renewal).lines.data[0].period
            assert (booked["renewals"][0]["period_start"], booked["renewals"][0]["period_end"]) == (period.start, period.end)
    finally:
        running.stop()
