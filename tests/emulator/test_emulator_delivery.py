"""Webhook delivery: signed as Stripe signs, off the request thread, retried with the same event id."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import stripe
from _emulator_helpers import pay_via_cli_route, payment_session, register
from _emulator_receiver import Receiver

from smoke.emulator import RunningEmulator

from _wait import wait_until

CHECKOUT_TYPES = {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "charge.updated",
                  "checkout.session.completed"}


def _deliveries(control: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    return control.get("/_emulator/deliveries", params=filters).json()["deliveries"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_delivers_signed_events_as_stripe_does(client: stripe.StripeClient, receiver: Callable[..., Receiver],
                                              control: httpx.Client) -> None:
    rec = receiver()
    register(client, rec)
    session = payment_session(client, 1500, metadata={"orgId": "o1"})
    pay_via_cli_route(client, session.id)
    wait_until(lambda: {e["type"] for e in rec.events()} >= CHECKOUT_TYPES, message="the checkout events arrive")
    first = next(r for r in rec.received if r["event"]["type"] == "checkout.session.completed")
    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["user-agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["accept"] == "*/*; q=0.5, application/xml" and headers["cache-control"] == "no-cache"
    parts = [p.split("=", 1)[0] for p in headers["stripe-signature"].split(",")]
    assert parts == ["t", "v1", "v0"]
    raw = first["raw"]
    assert raw == json.dumps(json.loads(raw), indent=2, ensure_ascii=False).encode()  # Stripe's indented body
    event = first["event"]
    assert event["object"] == "event" and event["id"].startswith("evt_") and event["livemode"] is False
    assert event["data"]["object"]["payment_status"] == "paid" and event["data"]["object"]["metadata"] == {"orgId": "o1"}
    assert event["pending_webhooks"] == 1 and event["request"]["id"].startswith("req_")
    # Acknowledged deliveries are no longer owed.
    wait_until(lambda: client.v1.events.retrieve(event["id"]).pending_webhooks == 0, message="pending_webhooks drops")
    attempts = _deliveries(control, event_id=event["id"])
    assert [(a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [(1, 200, True)]
    assert attempts[0]["url"] == rec.url and attempts[0]["type"] == "checkout.session.completed"
    assert attempts[0]["duration"] >= 0 and attempts[0]["timestamp"] > 0


def test_only_subscribed_events_are_sent(client: stripe.StripeClient, receiver: Callable[..., Receiver]) -> None:
    everything, completed_only = receiver(), receiver()
    register(client, everything)
    register(client, completed_only, ["checkout.session.completed"])
    pay_via_cli_route(client, payment_session(client).id)
    event_id = wait_until(lambda: completed_only.events())[0]["id"]
    wait_until(lambda: event_id in {e["id"] for e in everything.events()}, message="one event, sent to both")
    wait_until(lambda: {e["type"] for e in everything.events()} >= CHECKOUT_TYPES)
    assert [e["type"] for e in completed_only.events()] == ["checkout.session.completed"]
    wait_until(lambda: client.v1.events.retrieve(event_id).pending_webhooks == 0)


def test_server_errors_are_retried_with_the_same_event_id(client: stripe.StripeClient,
                                                          receiver: Callable[..., Receiver], control: httpx.Client) -> None:
    rec = receiver(fail_first=2)
    register(client, rec, ["customer.created"])
    customer = client.v1.customers.create(params={"email": "r@example.test"})
    events = wait_until(lambda: rec.events("customer.created"), message="delivered after two 500s")
    assert [r["status"] for r in rec.received] == [500, 500, 200]
    assert {r["event"]["id"] for r in rec.received} == {events[0]["id"]}
    assert events[0]["data"]["object"]["id"] == customer.id
    attempts = _deliveries(control, event_id=events[0]["id"])
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert attempts[1]["timestamp"] >= attempts[0]["timestamp"] + 0.04  # backed off
    assert control.get("/_emulator/deliveries").json()["scheduled"] == []
    assert len(rec.events()) == 1  # nothing more once acknowledged


def test_down_receiver_gets_the_event_on_fast_forward(client: stripe.StripeClient, emulator: RunningEmulator,
                                                     receiver: Callable[..., Receiver], control: httpx.Client) -> None:
    control.post("/_emulator/settings", json={"retry_base_seconds": 3600})
    port = _free_port()
    endpoint = client.v1.webhook_endpoints.create(params={"url": f"http://127.0.0.1:{port}/webhook",
                                                          "enabled_events": ["customer.created"]})
    client.v1.customers.create(params={"email": "down@example.test"})
    failed = wait_until(lambda: _deliveries(control), message="the first attempt fails")
    assert failed[0]["status_code"] is None and failed[0]["error"] and not failed[0]["ok"]
    assert len(control.get("/_emulator/deliveries").json()["scheduled"]) == 1
    rec = receiver(port=port, secret=endpoint.secret)
    assert control.post("/_emulator/retries/fast-forward").json() == {"ran": 1}
    events = wait_until(lambda: rec.events("customer.created"))
    assert events[0]["id"] == failed[0]["event_id"]
    assert [a["attempt"] for a in _deliveries(control)] == [1, 2]


def test_slow_receiver_times_out_and_is_retried(client: stripe.StripeClient, receiver: Callable[..., Receiver],
                                               control: httpx.Client) -> None:
    control.post("/_emulator/settings", json={"delivery_timeout": 0.3})
    rec = receiver(slow_first=1, slow_seconds=0.8)
    register(client, rec, ["customer.created"])
    started = time.monotonic()
    client.v1.customers.create(params={"email": "slow@example.test"})
    assert time.monotonic() - started < 0.5  # delivery never holds up the API answer
    attempts = wait_until(lambda: [a for a in _deliveries(control) if a["ok"]] and _deliveries(control))
    assert attempts[0]["error"].startswith("timed out") and attempts[1]["status_code"] == 200
    # The slow first delivery may still land at the receiver: the same event id, as Stripe may repeat itself.
    wait_until(lambda: len(rec.received) == 2)
    assert len({r["event"]["id"] for r in rec.received}) == 1


def test_retries_stop_after_the_last_one(client: stripe.StripeClient, receiver: Callable[..., Receiver],
                                         control: httpx.Client) -> None:
    control.post("/_emulator/settings", json={"max_retries": 2})
    rec = receiver(fail_first=10)
    register(client, rec, ["customer.created"])
    client.v1.customers.create(params={"email": "never@example.test"})
    wait_until(lambda: len(_deliveries(control)) == 3 and not control.get("/_emulator/deliveries").json()["scheduled"])
    assert [r["status"] for r in rec.received] == [500, 500, 500]
    event = client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert event.pending_webhooks == 1  # still owed: it was never acknowledged


def test_old_api_version_endpoint_gets_charges_list(client: stripe.StripeClient, receiver: Callable[..., Receiver]) -> None:
    old, new = receiver(), receiver()
    register(client, old, ["payment_intent.succeeded"], api_version="2020-08-27")
    register(client, new, ["payment_intent.succeeded"])
    pay_via_cli_route(client, payment_session(client).id)
    old_event = wait_until(lambda: old.events())[0]
    new_event = wait_until(lambda: new.events())[0]
    assert old_event["api_version"] == "2020-08-27" and old_event["id"] == new_event["id"]
    intent = old_event["data"]["object"]
    assert "latest_charge" not in intent and intent["charges"]["data"][0]["status"] == "succeeded"
    assert new_event["data"]["object"]["latest_charge"] == intent["charges"]["data"][0]["id"]


def test_failed_payment_and_refund_events_are_delivered(client: stripe.StripeClient,
                                                        receiver: Callable[..., Receiver]) -> None:
    rec = receiver()
    register(client, rec)
    session = payment_session(client)
    try:
        pay_via_cli_route(client, session.id, "tok_chargeDeclined")
    except stripe.CardError:
        pass
    failed = wait_until(lambda: rec.events("payment_intent.payment_failed"))
    assert failed[0]["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
    assert not rec.events("checkout.session.completed")
    intent = pay_via_cli_route(client, session.id).payment_intent
    client.v1.refunds.create(params={"payment_intent": intent.id})
    refunded = wait_until(lambda: rec.events("charge.refunded"))
    assert refunded[0]["data"]["object"]["refunded"] is True
    assert refunded[0]["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    wait_until(lambda: rec.events("refund.created"))


def test_deleted_endpoint_gets_nothing_more(client: stripe.StripeClient, receiver: Callable[..., Receiver],
                                            control: httpx.Client) -> None:
    control.post("/_emulator/settings", json={"retry_base_seconds": 3600})
    rec = receiver(fail_first=1)
    endpoint = register(client, rec, ["customer.created"])
    client.v1.customers.create(params={"email": "gone@example.test"})
    wait_until(lambda: rec.received)
    client.v1.webhook_endpoints.delete(endpoint.id)
    control.post("/_emulator/retries/fast-forward")
    assert len(rec.received) == 1 and len(_deliveries(control)) == 1


def test_control_api(control: httpx.Client, emulator: RunningEmulator, client: stripe.StripeClient) -> None:
    assert control.get("/_emulator/health").json() == {"ok": True}
    answer = control.post("/_emulator/settings", json={"layout": "card", "delivery_timeout": 1})
    assert answer.status_code == 200 and answer.json()["layout"] == "card" and answer.json()["delivery_timeout"] == 1
    assert control.post("/_emulator/settings", json={"layout": "sideways"}).status_code == 400
    assert control.post("/_emulator/settings", json={"retry_base_seconds": -1}).status_code == 400
    assert control.post("/_emulator/settings", content=b"nope").status_code == 400
    client.v1.customers.create(params={"email": "x@example.test"})
    assert control.post("/_emulator/reset").json() == {"reset": True}
    assert client.v1.customers.list().data == [] and client.v1.events.list().data == []
