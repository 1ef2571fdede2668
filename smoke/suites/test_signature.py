"""Signatures: forged, stale, malformed or v0-only events are refused; a rotated secret still works."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.events import to_body
from smoke.signing import compute_signature, signature_header

pytestmark = [pytest.mark.simulated]


@dataclass(frozen=True)
class Forgery:
    """One way to send a crediting event that Stripe did not sign (or signed too long ago)."""

    description: str
    fault: str
    send: Callable[[Smoke, dict[str, Any]], Sent]


def _wrong_secret(smoke: Smoke, event: dict[str, Any]) -> Sent:
    return smoke.send(event, secrets=["whsec_" + "0" * 32])


def _tampered(smoke: Smoke, event: dict[str, Any]) -> Sent:
    signed = to_body(event)
    tampered = dict(event, data={"object": dict(event["data"]["object"])})
    obj = tampered["data"]["object"]
    for key in ("amount_total", "amount", "amount_paid", "amount_received"):
        if isinstance(obj.get(key), int):
            obj[key] = obj[key] * 10
    obj.setdefault("metadata", {})["tampered"] = "yes"
    return smoke.send(tampered, signed_body=signed)


def _stale(smoke: Smoke, event: dict[str, Any]) -> Sent:
    return smoke.send(event, timestamp=int(time.time()) - 3600)


def _malformed(smoke: Smoke, event: dict[str, Any]) -> Sent:
    return smoke.send(event, signature="v1=,t=not-a-time,garbage")


def _v0_only(smoke: Smoke, event: dict[str, Any]) -> Sent:
    body = to_body(event)
    ts = int(time.time())
    return smoke.send(event, signature=f"t={ts},v0={compute_signature(body, smoke.target.webhook_secret or '', ts)}")


FORGERIES = {
    "missing_header": Forgery("with no Stripe-Signature header",
                              "the webhook does not check signatures", lambda s, e: s.send(e, signature="")),
    "wrong_secret": Forgery("signed with the wrong secret",
                            "the webhook does not verify the signature against its secret", _wrong_secret),
    "tampered_body": Forgery("whose body was changed after signing",
                             "the webhook does not verify the signature over the body it acts on", _tampered),
    "stale_timestamp": Forgery("signed an hour ago",
                               "the webhook has no timestamp tolerance, so a captured event can be replayed", _stale),
    "malformed_header": Forgery("with a malformed Stripe-Signature header",
                                "the webhook's signature parsing accepts garbage", _malformed),
    "v0_only": Forgery("carrying only a v0 signature",
                       "the webhook accepts the v0 scheme, which Stripe's verifiers ignore", _v0_only),
}


@pytest.mark.parametrize("kind", list(FORGERIES))
def test_forged_event_is_rejected(smoke: Smoke, kind: str) -> None:
    """A crediting event that Stripe did not sign as-is gets a 4xx and changes nothing."""
    forgery = FORGERIES[kind]
    can_observe = smoke.target.profile.can("state") and smoke.target.profile.can("simulated_credit")
    baseline = smoke.read() if can_observe else None
    sent = forgery.send(smoke, smoke.crediting_event())
    status = sent.delivery.status
    if status >= 500:
        fail(f"An event {forgery.description} got HTTP {status}: the webhook crashes instead of rejecting it "
             "with a 4xx, and Stripe would keep retrying.")
    if status < 400:
        fail(f"An event {forgery.description} was accepted (HTTP {status}): {forgery.fault}.")
    expected = smoke.target.profile.webhook_reject_status
    if expected and status not in expected:
        fail(f"An event {forgery.description} got HTTP {status}; the profile says the target rejects with "
             f"{'/'.join(map(str, expected))}.")
    if can_observe:
        smoke.expect_unchanged(baseline, f"An event {forgery.description} was rejected with {status} but still credited")


def test_rotated_secret_is_accepted(smoke: Smoke) -> None:
    """A header with two v1 signatures, only one of them right (a secret roll), is accepted."""
    event = smoke.crediting_event()
    can_observe = smoke.target.profile.can("state") and smoke.target.profile.can("simulated_credit")
    baseline = smoke.read() if can_observe else None
    header = signature_header(to_body(event), ["whsec_" + "1" * 32, smoke.target.webhook_secret or ""])
    sent = smoke.send(event, signature=header)
    if not sent.delivery.ok:
        fail(f"A correctly signed event whose header also carries an old secret's v1 signature was rejected "
             f"(HTTP {sent.delivery.status}): while a secret is rolled Stripe signs with both, so every real event "
             "would be lost; accept the header when any v1 signature matches.")
    if can_observe:
        smoke.expect_credit(baseline, sent)
