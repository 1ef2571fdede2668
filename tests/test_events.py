"""Event templates are realistic, consistent across one payment, and shaped by API version."""

from __future__ import annotations

import json

import pytest
import stripe

from smoke.errors import ConfigError
from smoke.events import (CHECKOUT_PAYMENT_SEQUENCE, Payment, build_event, known_types, payment_sequence,
                          to_body)

REQUIRED = ["checkout.session.completed", "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed", "checkout.session.expired", "payment_intent.succeeded",
            "payment_intent.payment_failed", "charge.succeeded", "charge.refunded", "invoice.payment_succeeded",
            "invoice.payment_failed", "customer.subscription.created", "customer.subscription.updated",
            "customer.subscription.deleted"]


@pytest.mark.parametrize("event_type", REQUIRED)
def test_envelope_has_stripes_fields_and_the_sdk_reads_it(event_type: str) -> None:
    event = build_event(event_type, Payment(amount=1234))
    assert list(event) == ["id", "object", "api_version", "created", "data", "livemode", "pending_webhooks",
                           "request", "type"]
    assert event["id"].startswith("evt_") and event["livemode"] is False and event["type"] == event_type
    parsed = stripe.Event.construct_from(json.loads(to_body(event)), "sk_test_x")
    assert parsed.data.object.id == event["data"]["object"]["id"]
    assert "${" not in to_body(event).decode(), "every placeholder is filled"


def test_all_required_types_have_templates() -> None:
    assert set(REQUIRED) <= set(known_types())


def test_one_payment_shares_its_ids_across_events() -> None:
    payment = Payment(amount=700)
    events = {e["type"]: e["data"]["object"] for e in payment_sequence(payment, {})}
    session, intent, charge = (events["checkout.session.completed"], events["payment_intent.succeeded"],
                               events["charge.succeeded"])
    assert session["payment_intent"] == intent["id"] == charge["payment_intent"] == payment.payment_intent
    assert intent["latest_charge"] == charge["id"] == payment.charge
    assert session["amount_total"] == intent["amount"] == charge["amount"] == 700
    assert session["customer"] == intent["customer"] == events["customer.created"]["id"]
    assert len({e["id"] for e in payment_sequence(payment, {})}) == len(CHECKOUT_PAYMENT_SEQUENCE)


def test_profile_fields_merge_into_data_object() -> None:
    event = build_event("checkout.session.completed", Payment(amount=500),
                        {"metadata": {"orgId": "o1"}, "client_reference_id": "o1"})
    obj = event["data"]["object"]
    assert obj["metadata"] == {"orgId": "o1"} and obj["client_reference_id"] == "o1"
    assert obj["payment_status"] == "paid" and obj["status"] == "complete"


def test_old_api_versions_carry_charges_on_the_intent() -> None:
    payment = Payment(amount=500)
    new = build_event("payment_intent.succeeded", payment, {"metadata": {"a": "1"}})["data"]["object"]
    old = build_event("payment_intent.succeeded", payment, {"metadata": {"a": "1"}}, api_version="2020-08-27")["data"]["object"]
    assert new["latest_charge"] == payment.charge and "charges" not in new
    assert "latest_charge" not in old and old["charges"]["data"][0]["id"] == payment.charge
    assert old["charges"]["data"][0]["paid"] is True


def test_body_is_indented_like_stripes() -> None:
    text = to_body(build_event("charge.succeeded", Payment(amount=1))).decode()
    assert text.startswith('{\n  "id": "evt_') and '\n    "object": {' not in text[:10]


def test_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no event template for 'nope.nope'"):
        build_event("nope.nope", Payment(amount=1))
