"""Stripe-Signature headers, made exactly as Stripe makes them."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from smoke.errors import ConfigError

__all__ = ["SECRET_PREFIX", "STRIPE_USER_AGENT", "check_webhook_secret", "compute_signature", "delivery_headers",
           "signature_header"]

SECRET_PREFIX = "whsec_"


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """Return the hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` keyed with the whole secret."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(
    payload: bytes | str,
    secrets: str | Sequence[str],
    timestamp: int | None = None,
    *,
    v0_secret: str | None = None,
) -> str:
    """Build ``t=…,v1=…[,v1=…][,v0=…]``: one ``v1`` per secret, as during a secret roll.

    Test-mode deliveries carry a ``v0`` value too; pass ``v0_secret`` to add one
    (Stripe's ``v0`` is a legacy scheme verifiers ignore; we sign it with that secret).
    """
    if isinstance(secrets, str):
        secrets = [secrets]
    ts = int(time.time()) if timestamp is None else int(timestamp)
    parts = [f"t={ts}"]
    parts += [f"v1={compute_signature(payload, s, ts)}" for s in secrets]
    if v0_secret is not None:
        parts.append(f"v0={compute_signature(payload, v0_secret, ts)}")
    return ",".join(parts)


def check_webhook_secret(secret: str | None, source: str = "STRIPE_WEBHOOK_SECRET") -> str:
    """Return the secret if it looks like an endpoint secret, else raise a ConfigError."""
    if not secret:
        raise ConfigError(
            f"No webhook signing secret: set {source} to the endpoint's whsec_… secret "
            "(Stripe Dashboard → Developers → Webhooks → your endpoint → Signing secret)."
        )
    secret = secret.strip()
    if not secret.startswith(SECRET_PREFIX) or len(secret) < len(SECRET_PREFIX) + 8:
        raise ConfigError(
            f"{source} does not look like a webhook signing secret: it must start with "
            f"'{SECRET_PREFIX}' and be the endpoint's full secret, not an API key."
        )
    return secret


# Headers of a real test-mode delivery (see README, "How events are sent").
STRIPE_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def delivery_headers(
    body: bytes,
    secrets: str | Sequence[str] | None,
    *,
    timestamp: int | None = None,
    content_type: str = "application/json; charset=utf-8",
    with_v0: bool = True,
    signature: str | None = None,
) -> dict[str, str]:
    """The headers Stripe sends with a test-mode event; ``signature`` overrides the computed one."""
    headers = {
        "User-Agent": STRIPE_USER_AGENT,
        "Accept": "*/*; q=0.5, application/xml",
        "Cache-Control": "no-cache",
        "Content-Type": content_type,
    }
    if signature is not None:
        headers["Stripe-Signature"] = signature
    elif secrets:
        # v0 is a legacy scheme that verifiers ignore; a random key keeps it realistic but inert.
        v0_key = "whsec_v0_" + hashlib.sha256(body).hexdigest()[:16] if with_v0 else None
        headers["Stripe-Signature"] = signature_header(body, secrets, timestamp, v0_secret=v0_key)
    return headers
