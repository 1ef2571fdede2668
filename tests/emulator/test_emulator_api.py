"""The emulator's Stripe API, driven by the official stripe Python SDK."""

from __future__ import annotations

import base64

import httpx
import pytest
import stripe
from _emulator_helpers import pay_via_cli_route, payment_session

from smoke.emulator import RunningEmulator, main_banner, start_emulator


def test_auth_accepts_test_keys_only(emulator: RunningEmulator) -> None:
    for key in ("sk_test_abc123", "rk_test_abc123"):
        stripe.StripeClient(key, base_addresses={"api": emulator.url}).v1.customers.list()
    with pytest.raises(stripe.AuthenticationError, match="refuses live-mode keys") as live:
        stripe.StripeClient("sk_" + "live_abc1234567",  # built, so no scanner mistakes it for a real key
                             base_addresses={"api": emulator.url}).v1.customers.list()
    assert live.value.http_status == 401 and "abc1234567" not in str(live.value)
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided"):
        stripe.StripeClient("pk_test_abc123", base_addresses={"api": emulator.url}).v1.customers.list()
    with httpx.Client(base_url=emulator.url, timeout=10) as http:
        missing = http.get("/v1/customers")
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "invalid_request_error"
        assert "did not provide an API key" in missing.json()["error"]["message"]
        basic = base64.b64encode(f"{emulator.api_key}:".encode()).decode()
        assert http.get("/v1/customers", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        unknown = http.get("/v1/nothing", headers={"Authorization": f"Bearer {emulator.api_key}"})
        assert unknown.status_code == 404 and "Unrecognized request URL" in unknown.json()["error"]["message"]


def test_customers_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(params={"email": "a@example.test", "name": "Ada", "metadata": {"org": "o1"}})
    assert isinstance(created, stripe.Customer) and created.id.startswith("cus_")
    assert created.email == "a@example.test" and created.metadata["org"] == "o1" and created.livemode is False
    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.to_dict() == created.to_dict()
    updated = client.v1.customers.update(created.id, params={"name": "Ada L.", "metadata": {"org": "", "tier": "gold"}})
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {"tier": "gold"}
    for i in range(4):
        client.v1.customers.create(params={"email": f"c{i}@example.test"})
    page = client.v1.customers.list(params={"limit": 2})
    assert len(page.data) == 2 and page.has_more and page.data[0].email == "c3@example.test"
    after = client.v1.customers.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [c.email for c in after.data] == ["c1@example.test", "c0@example.test"]
    assert len(list(client.v1.customers.list(params={"limit": 2}).auto_paging_iter())) == 5
    assert [c.id for c in client.v1.customers.list(params={"email": "a@example.test"}).data] == [created.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve("cus_missing")
    assert err.value.http_status == 404 and err.value.code == "resource_missing"
    assert "No such customer: 'cus_missing'" in str(err.value.user_message)


def test_products_and_prices(client: stripe.StripeClient) -> None:
    product = client.v1.products.create(params={"name": "Credits"})
    price = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 500})
    monthly = client.v1.prices.create(params={"currency": "usd", "unit_amount": 900, "recurring": {"interval": "month"},
                                              "product_data": {"name": "Pro"}})
    assert isinstance(price, stripe.Price) and price.type == "one_time" and price.unit_amount == 500
    assert monthly.type == "recurring" and monthly.recurring.interval == "month"
    assert client.v1.prices.retrieve(price.id, params={"expand": ["product"]}).product.name == "Credits"
    assert [p.id for p in client.v1.prices.list(params={"product": product.id}).data] == [price.id]
    assert {p.name for p in client.v1.products.list().data} == {"Credits", "Pro"}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create(params={"product": product.id, "currency": "usd"})
    assert err.value.code == "parameter_missing" and err.value.param == "unit_amount"


def test_idempotency_key_replays_the_first_answer(client: stripe.StripeClient, emulator: RunningEmulator) -> None:
    options = {"idempotency_key": "order-42"}
    first = client.v1.customers.create(params={"email": "i@example.test"}, options=options)
    again = client.v1.customers.create(params={"email": "i@example.test"}, options=options)
    assert again.id == first.id and len(client.v1.customers.list().data) == 1
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        client.v1.customers.create(params={"email": "other@example.test"}, options=options)
    # Events name the request and its key.
    event = client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert event.request.idempotency_key == "order-42" and event.request.id.startswith("req_")


def test_checkout_session_payment_mode(client: stripe.StripeClient, emulator: RunningEmulator) -> None:
    customer = client.v1.customers.create(params={"email": "buyer@example.test"})
    session = payment_session(client, 2500, metadata={"orgId": "o1"}, client_reference_id="o1", customer=customer.id,
                              payment_intent_data={"metadata": {"orgId": "o1"}})
    assert isinstance(session, stripe.checkout.Session) and session.id.startswith("cs_test_")
    assert session.status == "open" and session.payment_status == "unpaid" and session.mode == "payment"
    assert session.amount_total == 2500 and session.currency == "usd" and session.customer == customer.id
    assert session.metadata.to_dict() == {"orgId": "o1"} and session.client_reference_id == "o1"
    assert session.url.startswith(f"{emulator.url}/c/pay/{session.id}#") and len(session.url.split("#")[1]) > 20
    assert session.payment_intent is None  # made on the first payment attempt, as Checkout does now
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert items.data[0].amount_total == 2500 and items.data[0].price.product.startswith("prod_")
    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items", "customer"]})
    assert expanded.line_items.data[0].quantity == 1 and expanded.customer.email == "buyer@example.test"
    assert [s.id for s in client.v1.checkout.sessions.list(params={"customer": customer.id}).data] == [session.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.checkout.sessions.create(params={"mode": "payment", "success_url": "http://127.0.0.1/s"})
    assert err.value.param == "line_items"


def test_expire_session(client: stripe.StripeClient) -> None:
    session = payment_session(client)
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    assert client.v1.events.list(params={"type": "checkout.session.expired"}).data[0].data.object.id == session.id
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError, match="no longer active"):
        pay_via_cli_route(client, session.id)


def test_pay_session_like_the_cli(client: stripe.StripeClient) -> None:
    session = payment_session(client, 1500, metadata={"orgId": "o1"}, payment_intent_data={"metadata": {"orgId": "o1"}})
    result = pay_via_cli_route(client, session.id)
    assert result.payment_intent.status == "succeeded"
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent.latest_charge"]})
    assert paid.status == "complete" and paid.payment_status == "paid"
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.amount_received == 1500
    assert intent.metadata.to_dict() == {"orgId": "o1"}
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge) and charge.paid and charge.status == "succeeded"
    assert charge.payment_method_details.card.last4 == "4242" and charge.balance_transaction.startswith("txn_")
    types = [e.type for e in reversed(client.v1.events.list(params={"limit": 100}).data)]
    sequence = [t for t in types if t.split(".")[0] in ("payment_intent", "charge", "checkout")]
    assert sequence == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "charge.updated",
                        "checkout.session.completed"]
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert completed.data.object.payment_status == "paid" and completed.data.object.amount_total == 1500
    assert completed.data.object.metadata["orgId"] == "o1"
    with pytest.raises(stripe.InvalidRequestError, match="no longer active"):
        pay_via_cli_route(client, session.id)


def test_session_metadata_reaches_the_intent_only_through_payment_intent_data(client: stripe.StripeClient) -> None:
    session = payment_session(client, metadata={"orgId": "o1"})
    pay_via_cli_route(client, session.id)
    intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    assert intent.metadata.to_dict() == {}


def test_declined_session_stays_open_and_refuses_direct_confirm(client: stripe.StripeClient) -> None:
    session = payment_session(client)
    with pytest.raises(stripe.CardError) as declined:
        pay_via_cli_route(client, session.id, "tok_chargeDeclined")
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.user_message == "Your card was declined."
    with pytest.raises(stripe.CardError) as poor:
        pay_via_cli_route(client, session.id, "tok_chargeDeclinedInsufficientFunds")
    assert poor.value.error.decline_code == "insufficient_funds"
    still = client.v1.checkout.sessions.retrieve(session.id)
    assert still.status == "open" and still.payment_status == "unpaid"
    assert len(client.v1.events.list(params={"type": "payment_intent.payment_failed"}).data) == 2
    with pytest.raises(stripe.InvalidRequestError, match="You cannot confirm PaymentIntents created by Checkout"):
        client.v1.payment_intents.confirm(still.payment_intent, params={"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as mismatch:
        pay_via_cli_route(client, session.id, amount=1)
    assert mismatch.value.http_status == 400 and mismatch.value.param == "expected_amount"
    assert pay_via_cli_route(client, session.id).payment_intent.status == "succeeded"


def test_subscription_mode(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(params={"currency": "usd", "unit_amount": 900, "recurring": {"interval": "month"},
                                            "product_data": {"name": "Pro"}})
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        client.v1.checkout.sessions.create(params={"mode": "payment", "line_items": [{"price": price.id, "quantity": 1}],
                                                   "success_url": "http://127.0.0.1/s"})
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 2}], "customer_email": "s@example.test",
        "success_url": "http://127.0.0.1/s", "subscription_data": {"metadata": {"plan": "pro"}}})
    assert session.amount_total == 1800
    pay_via_cli_route(client, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription", "invoice", "customer"]})
    assert done.payment_status == "paid" and done.customer.email == "s@example.test"
    assert isinstance(done.subscription, stripe.Subscription) and done.subscription.status == "active"
    assert done.subscription.metadata["plan"] == "pro" and done.subscription.items.data[0].quantity == 2
    assert isinstance(done.invoice, stripe.Invoice) and done.invoice.status == "paid" and done.invoice.amount_paid == 1800
    types = {e.type for e in client.v1.events.list(params={"limit": 100}).data}
    assert {"customer.created", "customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid",
            "invoice.payment_succeeded", "checkout.session.completed"} <= types
    assert client.v1.subscriptions.list(params={"customer": done.customer.id}).data[0].id == done.subscription.id


def test_payment_intents(client: stripe.StripeClient) -> None:
    paid = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa",
                                                    "confirm": True, "metadata": {"uses": "10"}})
    assert isinstance(paid, stripe.PaymentIntent) and paid.status == "succeeded" and paid.latest_charge.startswith("ch_")
    fetched = client.v1.payment_intents.retrieve(paid.id, params={"expand": ["latest_charge", "payment_method"]})
    assert fetched.latest_charge.amount == 2000 and fetched.latest_charge.metadata["uses"] == "10"
    assert fetched.payment_method.card.brand == "visa"

    intent = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    assert intent.status == "requires_payment_method" and intent.client_secret.startswith(intent.id + "_secret_")
    with pytest.raises(stripe.CardError) as err:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_chargeDeclined"})
    assert err.value.code == "card_declined" and err.value.error.decline_code == "generic_decline"
    assert err.value.error.payment_intent.id == intent.id
    assert client.v1.payment_intents.retrieve(intent.id).last_payment_error.code == "card_declined"
    with pytest.raises(stripe.CardError, match="insufficient funds"):
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    challenged = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_threeDSecure2Required"})
    assert challenged.status == "requires_action" and challenged.next_action.type == "use_stripe_sdk"
    canceled = client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError, match="status of succeeded"):
        client.v1.payment_intents.confirm(paid.id)
    with pytest.raises(stripe.InvalidRequestError) as small:
        client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert small.value.code == "amount_too_small"
    assert {p.id for p in client.v1.payment_intents.list().data} == {paid.id, intent.id}
    assert client.v1.charges.list(params={"payment_intent": paid.id}).data[0].id == paid.latest_charge
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert "payment_intent.payment_failed" in types and "payment_intent.canceled" in types


def test_payment_methods(client: stripe.StripeClient) -> None:
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "4000000000009995", "exp_month": 12, "exp_year": 34, "cvc": "123"}})
    assert isinstance(pm, stripe.PaymentMethod) and pm.card.last4 == "9995" and pm.card.exp_year == 2034
    assert client.v1.payment_methods.retrieve(pm.id).id == pm.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_nope"}})
    with pytest.raises(stripe.CardError, match="non test card"):
        client.v1.payment_methods.create(params={"type": "card", "card": {"number": "4111111111111111"}})


def test_refunds(client: stripe.StripeClient) -> None:
    paid = client.v1.payment_intents.create(params={"amount": 3000, "currency": "usd", "payment_method": "pm_card_visa",
                                                    "confirm": True})
    part = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1000, "reason": "requested_by_customer"})
    assert isinstance(part, stripe.Refund) and part.status == "succeeded" and part.charge == paid.latest_charge
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert charge.amount_refunded == 1000 and charge.refunded is False
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 2500})
    assert too_much.value.code == "amount_too_large"
    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 2000 and client.v1.charges.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge.id})
    assert again.value.code == "charge_already_refunded"
    assert client.v1.refunds.retrieve(part.id).amount == 1000
    assert [r.id for r in client.v1.refunds.list(params={"charge": charge.id}).data] == [rest.id, part.id]
    refunded = client.v1.events.list(params={"type": "charge.refunded"}).data
    assert len(refunded) == 2 and refunded[0].data.previous_attributes["amount_refunded"] == 1000
    assert len(client.v1.events.list(params={"type": "refund.created"}).data) == 2


def test_events_retrieve_and_filter(client: stripe.StripeClient) -> None:
    for i in range(3):
        client.v1.customers.create(params={"email": f"e{i}@example.test"})
    client.v1.products.create(params={"name": "X"})
    events = client.v1.events.list(params={"type": "customer.created", "limit": 2})
    assert len(events.data) == 2 and events.has_more and all(e.type == "customer.created" for e in events.data)
    event = client.v1.events.retrieve(events.data[0].id)
    assert isinstance(event, stripe.Event) and event.data.object.email == "e2@example.test"
    assert event.api_version and event.pending_webhooks == 0
    assert len(client.v1.events.list(params={"type": "customer.*"}).data) == 3
    assert len(client.v1.events.list(params={"types": ["customer.created", "product.created"]}).data) == 4
    assert len(client.v1.events.list(params={"created": {"gte": event.created - 5}}).data) == 4


def test_webhook_endpoints(client: stripe.StripeClient) -> None:
    created = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/hook",
                                                         "enabled_events": ["checkout.session.completed"],
                                                         "api_version": "2022-08-01"})
    assert isinstance(created, stripe.WebhookEndpoint) and created.secret.startswith("whsec_")
    fetched = client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched and fetched.api_version == "2022-08-01" and fetched.status == "enabled"
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [created.id]
    updated = client.v1.webhook_endpoints.update(created.id, params={"enabled_events": ["*"]})
    assert updated.enabled_events == ["*"]
    removed = client.v1.webhook_endpoints.delete(created.id)
    assert removed.deleted is True and client.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError, match="only delivers events to loopback") as off_loopback:
        client.v1.webhook_endpoints.create(params={"url": "https://example.com/hook", "enabled_events": ["*"]})
    assert off_loopback.value.param == "url"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.create(params={"url": "ftp://127.0.0.1/x", "enabled_events": ["*"]})
    with pytest.raises(stripe.InvalidRequestError) as bad_event:
        client.v1.webhook_endpoints.create(params={"url": "http://localhost:9/x", "enabled_events": ["Not An Event"]})
    assert bad_event.value.param == "enabled_events[0]"


def test_older_api_version_gets_charges_on_intents(client: stripe.StripeClient, emulator: RunningEmulator) -> None:
    paid = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa",
                                                    "confirm": True})
    old = stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url}, stripe_version="2020-08-27")
    intent = old.v1.payment_intents.retrieve(paid.id)
    assert "latest_charge" not in intent and intent.charges.data[0].id == paid.latest_charge


def test_stripe_api_payer_against_the_emulator(client: stripe.StripeClient) -> None:
    from smoke.stripe_api import pay_session

    session = payment_session(client)
    assert pay_session(client, session.id, "4000000000000002").status == "declined"
    assert pay_session(client, session.id).status == "succeeded"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_instances_are_isolated_and_state_file_persists(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "emulator.json"
    with start_emulator(state_file=state) as first, start_emulator() as other:
        one = stripe.StripeClient(first.api_key, base_addresses={"api": first.url})
        customer = one.v1.customers.create(params={"email": "keep@example.test"})
        two = stripe.StripeClient(other.api_key, base_addresses={"api": other.url})
        assert two.v1.customers.list().data == []
    assert state.stat().st_mode & 0o777 == 0o600
    with start_emulator(state_file=state) as again:
        client = stripe.StripeClient(again.api_key, base_addresses={"api": again.url})
        assert client.v1.customers.retrieve(customer.id).email == "keep@example.test"


def test_banner(emulator: RunningEmulator) -> None:
    banner = main_banner(emulator)
    assert emulator.url in banner and emulator.api_key in banner
    assert "webhook_endpoints.create" in banner and "webhookEndpoints.create" in banner
    assert f"port: {emulator.port}" in banner
