"""Pieces the reference targets share: Stripe signature verification and small JSON helpers."""

from __future__ import annotations

import json
from typing import Any

import stripe
from flask import Response, jsonify

TOLERANCE_SECONDS = 300


class BadEvent(Exception):
    """The delivery is not a signed, parseable Stripe event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAnEvent(ValueError):
    """A correctly signed body that is JSON but not an object, so not an event."""


def construct_event(payload: bytes, header: str, secret: str, tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """``stripe.Webhook.construct_event`` as a dict, but JSON that is not an object raises NotAnEvent (a 4xx, not a 500)."""
    # stripe-python verifies the signature, then fails with AttributeError on a signed [], null, "x" or 42.
    stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise NotAnEvent("the body is JSON but not an object, so not an event")
    return event


def verify(payload: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload``, its signature verified on the raw bytes (see ``construct_event``)."""
    if not header:
        raise BadEvent("stripe_signature_missing")
    try:
        event = construct_event(payload, header, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        raise BadEvent("stripe_signature_invalid") from None
    except NotAnEvent:
        raise BadEvent("payload_not_an_event") from None
    except ValueError:
        raise BadEvent("payload_invalid") from None
    return event


def parse(payload: bytes) -> dict[str, Any]:
    """Parse a body without verifying it (for deliberately faulty variants only)."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadEvent("payload_invalid") from None
    if not isinstance(event, dict):
        raise BadEvent("payload_invalid")
    return event


def well_formed(event: Any) -> bool:
    """True when ``event`` looks like a Stripe event envelope (an id, a type and ``data.object``)."""
    return (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict) and isinstance(event["data"].get("object"), dict))


def error(status: int, code: str, message: str = "") -> tuple[Response, int]:
    """A JSON error answer."""
    return jsonify({"error": {"code": code, "message": message or code}}), status


def stripe_client(api_key: str | None, api_base: str | None, timeout: float | None = None) -> stripe.StripeClient | None:
    """A Stripe client for real (or emulated) Checkout Sessions (waiting ``timeout`` s per call), or None to use placeholder sessions."""
    if not api_key:
        return None
    http = stripe.new_default_http_client(timeout=timeout) if timeout else None
    return stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else None, http_client=http)
