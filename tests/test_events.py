"""Event templates are realistic, consistent across one payment, and shaped by API version."""

from __future__ import annotations

import json

import pytest
import stripe

from smoke.errors import ConfigError
from smoke.events import (
    CHECKOUT_PAYMENT_SEQUENCE,
    DEFAULT_API_VERSION,
    REPRESENTATIVE_VERSIONS,
    SHAPE_CHANGES,
    Payment,
    build_event,
    contrasting_versions,
    known_types,
    payment_sequence,
    shape_changes_for,
    to_body,
)

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
    with pytest.raises(ConfigError, match=r"no event template for 'nope\.nope'"):
        build_event("nope.nope", Payment(amount=1))


def _object(event_type: str, version: str, payment: Payment | None = None, fields: dict | None = None) -> dict:
    return build_event(event_type, payment or Payment(amount=900), fields, api_version=version)["data"]["object"]


def _change(resource: str):
    return next(c for c in SHAPE_CHANGES if c.resource == resource)


@pytest.mark.parametrize("version", (*REPRESENTATIVE_VERSIONS, "2022-11-15", "2020-08-27"))
@pytest.mark.parametrize("event_type", known_types())
def test_every_template_at_every_version_parses_and_is_filled(event_type: str, version: str) -> None:
    body = to_body(build_event(event_type, Payment(amount=1234), api_version=version))
    parsed = stripe.Event.construct_from(json.loads(body), "sk_test_x")
    assert parsed.api_version == version and parsed.data.object.id
    assert "${" not in body.decode()


def test_intent_before_2022_11_15_lists_its_charges() -> None:
    payment = Payment(amount=900)
    intent = _object("payment_intent.succeeded", "2022-08-01", payment)
    assert "latest_charge" not in intent and intent["charges"]["data"][0]["id"] == payment.charge
    assert intent["charges"]["data"][0]["refunds"] == {"object": "list", "data": [], "has_more": False,
                                                       "total_count": 0, "url": f"/v1/charges/{payment.charge}/refunds"}


@pytest.mark.parametrize("version", ["2022-11-15", DEFAULT_API_VERSION])
def test_intent_from_2022_11_15_names_its_latest_charge(version: str) -> None:
    payment = Payment(amount=900)
    intent = _object("payment_intent.succeeded", version, payment)
    assert intent["latest_charge"] == payment.charge and "charges" not in intent
    assert intent["amount"] == intent["amount_received"] == 900


def test_failed_intent_received_nothing_and_its_old_charge_failed() -> None:
    assert _object("payment_intent.payment_failed", DEFAULT_API_VERSION)["amount_received"] == 0
    charge = _object("payment_intent.payment_failed", "2022-08-01")["charges"]["data"][0]
    assert charge["status"] == "failed" and charge["paid"] is False and charge["refunds"]["data"] == []


def test_refunded_charge_before_2022_11_15_includes_the_refund() -> None:
    payment = Payment(amount=900)
    charge = _object("charge.refunded", "2022-08-01", payment, {"metadata": {"orgId": "o1"}})
    refunds = charge["refunds"]
    assert refunds["object"] == "list" and refunds["total_count"] == 1 and refunds["has_more"] is False
    assert refunds["url"] == f"/v1/charges/{payment.charge}/refunds"
    refund = refunds["data"][0]
    assert refund["object"] == "refund" and refund["id"] == payment.refund and refund["status"] == "succeeded"
    assert refund["amount"] == charge["amount_refunded"] == 900 and refund["charge"] == charge["id"] == payment.charge
    assert refund["payment_intent"] == payment.payment_intent and refund["currency"] == "usd"
    assert refund["balance_transaction"].startswith("txn_")
    assert refund["balance_transaction"] != charge["balance_transaction"], "a refund has its own balance transaction"


def test_partial_refund_before_2022_11_15_refunds_what_the_charge_says() -> None:
    charge = _object("charge.refunded", "2022-08-01", fields={"amount_refunded": 300})
    assert charge["refunds"]["data"][0]["amount"] == 300


@pytest.mark.parametrize("version", ["2022-11-15", DEFAULT_API_VERSION])
def test_charge_from_2022_11_15_has_no_refunds_list(version: str) -> None:
    for event_type in ("charge.refunded", "charge.succeeded", "charge.updated"):
        charge = _object(event_type, version)
        assert "refunds" not in charge, event_type
    assert _object("charge.refunded", version)["amount_refunded"] == 900


def test_unrefunded_charge_before_2022_11_15_has_an_empty_refunds_list() -> None:
    refunds = _object("charge.succeeded", "2022-08-01")["refunds"]
    assert refunds["data"] == [] and refunds["total_count"] == 0


def test_session_before_2020_08_27_has_display_items() -> None:
    session = _object("checkout.session.completed", "2020-03-02", fields={"amount_total": 500, "currency": "eur"})
    assert session["display_items"] == [{"amount": session["amount_subtotal"], "currency": "eur",
                                         "custom": {"description": None, "images": None, "name": "Account top-up"},
                                         "quantity": 1, "type": "custom"}]


@pytest.mark.parametrize("version", ["2020-08-27", DEFAULT_API_VERSION])
def test_session_from_2020_08_27_has_no_display_items(version: str) -> None:
    assert "display_items" not in _object("checkout.session.completed", version)


def test_session_subtotal_exceeds_total_by_a_discount() -> None:
    session = _object("checkout.session.completed", DEFAULT_API_VERSION, fields={"amount_total": 500})
    assert session["amount_total"] == 500 and session["amount_subtotal"] > 500
    assert session["total_details"] == {"amount_discount": session["amount_subtotal"] - 500, "amount_shipping": 0,
                                        "amount_tax": 0}


def test_session_subtotal_set_by_the_fields_is_kept() -> None:
    session = _object("checkout.session.completed", DEFAULT_API_VERSION,
                      fields={"amount_total": 500, "amount_subtotal": 500})
    assert session["amount_subtotal"] == session["amount_total"] == 500
    assert session["total_details"]["amount_discount"] == 0


def test_a_tiny_session_still_gets_a_discount_and_a_free_one_none() -> None:
    tiny = _object("checkout.session.completed", DEFAULT_API_VERSION, fields={"amount_total": 1})
    assert (tiny["amount_subtotal"], tiny["total_details"]["amount_discount"]) == (2, 1)
    free = _object("checkout.session.completed", DEFAULT_API_VERSION, fields={"amount_total": 0})
    assert free["amount_subtotal"] == free["amount_total"] == 0


def test_shape_changes_follow_what_the_object_nests() -> None:
    assert shape_changes_for("payment_intent.succeeded", DEFAULT_API_VERSION) == [_change("payment_intent")]
    assert shape_changes_for("payment_intent.succeeded", "2022-08-01") == [_change("payment_intent"), _change("charge")]
    assert shape_changes_for("charge.refunded", "2020-03-02") == [_change("charge")]
    assert shape_changes_for("checkout.session.completed", DEFAULT_API_VERSION) == [_change("checkout.session")]
    assert shape_changes_for("customer.created", DEFAULT_API_VERSION) == []


@pytest.mark.parametrize(("event_type", "version", "expected"), [
    ("payment_intent.succeeded", DEFAULT_API_VERSION, [("2022-08-01", "payment_intent")]),
    ("payment_intent.succeeded", "2022-11-15", [("2022-08-01", "payment_intent")]),
    ("payment_intent.succeeded", "2022-08-01", [(DEFAULT_API_VERSION, "payment_intent")]),
    ("charge.refunded", DEFAULT_API_VERSION, [("2022-08-01", "charge")]),
    ("charge.refunded", "2022-08-01", [(DEFAULT_API_VERSION, "charge")]),
    ("checkout.session.completed", DEFAULT_API_VERSION, [("2020-03-02", "checkout.session")]),
    ("checkout.session.completed", "2020-03-02", [(DEFAULT_API_VERSION, "checkout.session")]),
    ("invoice.paid", DEFAULT_API_VERSION, []),
])
def test_contrasting_versions(event_type: str, version: str, expected: list[tuple[str, str]]) -> None:
    pairs = contrasting_versions(event_type, version)
    assert [(v, c.resource) for v, c in pairs] == expected
    for other, change in pairs:
        assert change.predates(other) != change.predates(version), "the replay is on the other side of the change"


def test_shape_changes_say_what_to_read_instead() -> None:
    for change in SHAPE_CHANGES:
        assert change.since[:4].isdigit() and change.before and change.change and change.fix
        sides = {change.predates(v) for v in REPRESENTATIVE_VERSIONS}
        assert sides == {True, False}, f"a representative version on each side of {change.since}"
