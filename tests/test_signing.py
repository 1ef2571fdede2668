"""Signatures made by the harness are accepted by Stripe's own verifiers (Python and Node)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import stripe

from smoke.errors import ConfigError
from smoke.events import Payment, build_event, to_body
from smoke.signing import check_webhook_secret, delivery_headers, signature_header

SECRET = "whsec_test_signing_secret_0123456789"
OLD = "whsec_old_secret_abcdefghijklmnopqr"


def body() -> bytes:
    return to_body(build_event("checkout.session.completed", Payment(amount=500)))


def test_python_sdk_accepts_our_header() -> None:
    payload = body()
    event = stripe.Webhook.construct_event(payload, signature_header(payload, SECRET), SECRET)
    assert event.type == "checkout.session.completed"


def test_matches_the_sdks_own_header_generator() -> None:
    payload, ts = body().decode(), int(time.time())
    assert signature_header(payload, SECRET, ts) == stripe.WebhookSignature.generate_signature_header(payload, SECRET, ts)


def test_rotation_header_carries_both_and_either_secret_verifies() -> None:
    payload = body()
    header = signature_header(payload, [OLD, SECRET])
    assert header.count("v1=") == 2
    for secret in (OLD, SECRET):
        stripe.Webhook.construct_event(payload, header, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_someone_else_entirely_xyz")


def test_chosen_timestamp_is_used_and_stale_one_is_refused() -> None:
    payload = body()
    stale = int(time.time()) - 3600
    header = signature_header(payload, SECRET, stale)
    assert header.startswith(f"t={stale},")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, SECRET)


def test_delivery_headers_look_like_a_test_mode_delivery() -> None:
    payload = body()
    headers = delivery_headers(payload, [SECRET])
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("Stripe/1.0")
    assert ",v0=" in headers["Stripe-Signature"]  # verifiers must ignore it
    stripe.Webhook.construct_event(payload, headers["Stripe-Signature"], SECRET)


def test_a_reserialised_body_no_longer_verifies() -> None:
    payload = body()
    header = signature_header(payload, SECRET)
    compact = json.dumps(json.loads(payload), separators=(",", ":"))
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(compact, header, SECRET)


@pytest.mark.parametrize("bad", [None, "", "sk_test_abcdefghijk", "whsec_", "  "])
def test_bad_secret_gets_one_clear_sentence(bad: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        check_webhook_secret(bad)
    assert "STRIPE_WEBHOOK_SECRET" in str(info.value) and "\n" not in str(info.value)


def test_node_stripe_package_accepts_our_headers(node_stripe: str) -> None:
    """stripe-node's webhooks.constructEvent verifies a single and a rotated header."""
    payload = body()
    script = """
const Stripe = require('stripe');
const stripe = new Stripe('sk_test_unused');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.cases.map(c => {
  try { return stripe.webhooks.constructEvent(input.payload, c.header, c.secret).id; }
  catch (e) { return 'ERR ' + e.type; }
});
console.log(JSON.stringify(out));
"""
    cases = [
        {"header": signature_header(payload, SECRET), "secret": SECRET},
        {"header": signature_header(payload, [OLD, SECRET]), "secret": SECRET},
        {"header": delivery_headers(payload, [SECRET])["Stripe-Signature"], "secret": SECRET},
        {"header": signature_header(payload, "whsec_wrong_wrong_wrong_wrong"), "secret": SECRET},
        {"header": signature_header(payload, SECRET, int(time.time()) - 3600), "secret": SECRET},
    ]
    result = subprocess.run(["node", "-e", script], input=json.dumps({"payload": payload.decode(), "cases": cases}),
                            capture_output=True, text=True, cwd=node_stripe, timeout=60, check=True)
    event_id = json.loads(payload)["id"]
    assert json.loads(result.stdout) == [event_id, event_id, event_id,
                                         "ERR StripeSignatureVerificationError", "ERR StripeSignatureVerificationError"]
