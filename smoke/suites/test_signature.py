"""Signatures: forged, stale, malformed or v0-only events are refused; a rotated secret still works."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.events import to_body
from smoke.quiet import Fire, observe, quiet_checks
from smoke.signing import compute_signature, signature_header

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_depends_on("credit")]

SLIGHTLY_STALE_SECONDS = 330


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


def _slightly_stale(smoke: Smoke, event: dict[str, Any]) -> Sent:
    # Past Stripe's 300 s tolerance by half a minute: catches looser tolerances, allows ordinary clock skew.
    return smoke.send(event, timestamp=int(time.time()) - SLIGHTLY_STALE_SECONDS)


def _near_miss(smoke: Smoke, event: dict[str, Any]) -> Sent:
    body, ts = to_body(event), int(time.time())
    good = compute_signature(body, smoke.target.webhook_secret or "", ts)
    return smoke.send(event, signature=f"t={ts},v1={good[:-1]}{'0' if good[-1] != '0' else '1'}")


def _truncated(smoke: Smoke, event: dict[str, Any]) -> Sent:
    body, ts = to_body(event), int(time.time())
    good = compute_signature(body, smoke.target.webhook_secret or "", ts)
    return smoke.send(event, signature=f"t={ts},v1={good[:32]}")


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
    "slightly_stale": Forgery(f"signed {SLIGHTLY_STALE_SECONDS} s ago (Stripe's tolerance is 300 s)",
                              "the webhook's timestamp tolerance is looser than Stripe's 300 s", _slightly_stale),
    "near_miss_signature": Forgery("whose v1 signature differs from the right one only in its last character",
                                   "the webhook compares only part of the v1 signature (a prefix), so a near "
                                   "forgery passes; compare the whole value in constant time", _near_miss),
    "truncated_signature": Forgery("whose v1 signature is only the first half of the right one",
                                   "the webhook accepts a v1 value that is a prefix of the right one (startswith, or "
                                   "a comparison of the shorter length); compare the whole value", _truncated),
    "malformed_header": Forgery("with a malformed Stripe-Signature header",
                                "the webhook's signature parsing accepts garbage", _malformed),
    "v0_only": Forgery("carrying only a v0 signature",
                       "the webhook accepts the v0 scheme, which Stripe's verifiers ignore", _v0_only),
}


def _forge(forgery: Forgery) -> Fire:
    def fire(smoke: Smoke) -> Sent:
        return forgery.send(smoke, smoke.crediting_event())

    return fire


# Each forgery, sent exactly as the check sends it: one settle window observes them all (smoke/quiet.py).
FORGED = {kind: _forge(forgery) for kind, forgery in FORGERIES.items()}
quiet_checks("test_forged_event_is_rejected", "kind", FORGED)


@pytest.mark.parametrize("kind", list(FORGERIES))
def test_forged_event_is_rejected(smoke: Smoke, kind: str) -> None:
    """A crediting event that Stripe did not sign as-is gets a 4xx and changes nothing."""
    forgery = FORGERIES[kind]
    observed = observe(smoke, FORGED[kind])
    assert observed is not None
    baseline, sent = observed.baseline, observed.sent
    status = sent.delivery.status
    if status >= 500:
        fail(f"An event {forgery.description} got HTTP {status}: the webhook crashes instead of rejecting it "
             "with a 4xx, and Stripe would keep retrying.", "crashes_on_forgery")
    credited = observed.moved() if smoke.observable else None
    if credited is not None:
        fail(f"An event {forgery.description} was accepted (HTTP {status}) and credited (the state went {baseline} → "
             f"{credited}): {forgery.fault}.", f"forgery_{kind}")
    if status < 400 and smoke.observable:
        fail(f"An event {forgery.description} was answered HTTP {status} but credited nothing, while correctly "
             "signed events credit: the webhook seems to check the signature and then answer 2xx anyway (a catch-all "
             "error path?). Answer 400 when verification fails, so failures show in Stripe's dashboard and your "
             "logs, and so a real processing error is never acknowledged.", "acknowledges_rejection")
    if status < 400:
        fail(f"An event {forgery.description} was accepted (HTTP {status}); the harness cannot read a credit state "
             "here, so it cannot see whether the webhook acted on it — a webhook that verifies signatures answers "
             f"400 ({forgery.fault}, or it acknowledges before verifying).", f"forgery_{kind}")
    expected = smoke.target.profile.webhook_reject_status
    if expected and status not in expected:
        fail(f"An event {forgery.description} got HTTP {status}; the profile says the target rejects with "
             f"{'/'.join(map(str, expected))}.", "reject_status")


def test_rotated_secret_is_accepted(smoke: Smoke) -> None:
    """A header with two v1 signatures, only one of them right (a secret roll), is accepted."""
    event = smoke.crediting_event()
    baseline = smoke.read() if smoke.observable else None
    header = signature_header(to_body(event), ["whsec_" + "1" * 32, smoke.target.webhook_secret or ""])
    sent = smoke.send(event, signature=header)
    if sent.delivery.status >= 500:
        fail(f"A correctly signed event whose header also carries an old secret's v1 signature crashed the webhook "
             f"(HTTP {sent.delivery.status}): its header parsing fails on two v1 values, which Stripe sends while a "
             "secret is rolled, so every real event would then be lost; accept the header when any v1 matches.",
             "crashes_on_rotation")
    if not sent.delivery.ok:
        fail(f"A correctly signed event whose header also carries an old secret's v1 signature was rejected "
             f"(HTTP {sent.delivery.status}): while a secret is rolled Stripe signs with both, so every real event "
             "would be lost; accept the header when any v1 signature matches.", "rejects_rotation")
    if smoke.observable:
        smoke.expect_credit(baseline, sent, cause="rotation_not_credited")
