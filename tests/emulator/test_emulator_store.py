"""The Store contract the hosted page codes against, and the form parser."""

from __future__ import annotations

import httpx
import pytest
import stripe
from _emulator_helpers import payment_session

from smoke.emulator import RunningEmulator
from smoke.emulator.forms import encode_form, parse_form
from smoke.emulator.payments import AUTH_FAILED


def test_pay_session_with_test_cards(emulator: RunningEmulator, client: stripe.StripeClient) -> None:
    store = emulator.store
    session = payment_session(client, 1500)
    declined = store.pay_session(session.id, "4000 0000 0000 0002", email="b@example.test", name="B")
    assert (declined.status, declined.message, declined.redirect_url) == ("declined", "Your card has been declined.", None)
    poor = store.pay_session(session.id, "4000000000009995")
    assert (poor.status, poor.message) == ("declined", "Your card has insufficient funds.")
    assert store.get_session(session.id)["status"] == "open"
    assert store.get_session(session.id)["payment_status"] == "unpaid"
    paid = store.pay_session(session.id, "4242424242424242", email="b@example.test", name="B")
    assert paid.status == "succeeded" and paid.message is None
    assert paid.redirect_url == f"http://127.0.0.1:9/success?session_id={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "paid" and done.customer_details.email == "b@example.test"
    again = store.pay_session(session.id, "4242424242424242")
    assert again.status == "not_open" and again.redirect_url is None
    assert store.pay_session("cs_test_nope", "4242424242424242").status == "not_open"
    assert store.get_session("cs_test_nope") is None


def test_three_d_secure(emulator: RunningEmulator, client: stripe.StripeClient) -> None:
    store = emulator.store
    session = payment_session(client)
    assert store.pay_session(session.id, "4000002500003155").status == "requires_action"
    failed = store.finish_3ds(session.id, approve=False)
    assert (failed.status, failed.message) == ("declined", AUTH_FAILED)
    intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "payment_intent_authentication_failure"
    assert store.finish_3ds(session.id, approve=True).status == "not_open"  # nothing is waiting now
    assert store.pay_session(session.id, "4000002500003155").status == "requires_action"
    approved = store.finish_3ds(session.id, approve=True)
    assert approved.status == "succeeded" and approved.redirect_url
    charge = client.v1.charges.list(params={"payment_intent": intent.id}).data[0]
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_layout(emulator: RunningEmulator, client: stripe.StripeClient) -> None:
    store = emulator.store
    plain = payment_session(client)
    chosen = payment_session(client, metadata={"smoke_layout": "iframe"})
    assert store.session_layout(plain.id) == "accordion" and store.session_layout(chosen.id) == "iframe"
    with httpx.Client(base_url=emulator.url, timeout=10) as http:
        http.post("/_emulator/settings", json={"layout": "legacy"}).raise_for_status()
    assert store.session_layout(plain.id) == "legacy" and store.session_layout(chosen.id) == "iframe"
    assert store.session_line_items(plain.id)[0]["amount_total"] == 1500


def test_unknown_card_is_refused(emulator: RunningEmulator, client: stripe.StripeClient) -> None:
    session = payment_session(client)
    assert emulator.store.pay_session(session.id, "1234").status == "declined"
    assert "non test card" in (emulator.store.pay_session(session.id, "4111111111111111").message or "")


@pytest.mark.parametrize("pairs, expected", [
    ([("expand[]", "a"), ("expand[]", "b")], {"expand": ["a", "b"]}),
    ([("line_items[0][price_data][currency]", "usd"), ("line_items[0][quantity]", "1"), ("line_items[1][price]", "p")],
     {"line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}, {"price": "p"}]}),
    ([("metadata[orgId]", "o1"), ("email", "")], {"metadata": {"orgId": "o1"}, "email": ""}),
])
def test_parse_form(pairs: list[tuple[str, str]], expected: dict) -> None:  # type: ignore[type-arg]
    assert parse_form(pairs) == expected


def test_form_round_trip() -> None:
    data = {"a": {"b": [{"c": "1"}, {"c": "2"}]}, "flag": "true"}
    assert parse_form(encode_form(data)) == data
