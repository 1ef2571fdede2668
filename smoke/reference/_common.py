"""Pieces the reference targets share: Stripe signature verification and small JSON helpers."""

from __future__ import annotations

import json
from typing import Any

import stripe
from flask import Flask, Response, jsonify

from smoke.servers import RunningServer, serve

TOLERANCE_SECONDS = 300


class BadEvent(Exception):
    """The delivery is not a signed, parseable Stripe event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(payload: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload``, verified with ``stripe.Webhook.construct_event`` on the raw bytes."""
    if not header:
        raise BadEvent("stripe_signature_missing")
    try:
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance=TOLERANCE_SECONDS).to_dict()
    except stripe.SignatureVerificationError:
        raise BadEvent("stripe_signature_invalid") from None
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


def stripe_client(api_key: str | None, api_base: str | None) -> stripe.StripeClient | None:
    """A Stripe client for real (or emulated) Checkout Sessions, or None to use placeholder sessions."""
    if not api_key:
        return None
    return stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else None)


def serve_target(app: Flask, name: str, port: int = 0) -> RunningServer:
    """Serve a reference target on loopback; its own URL is its public one unless one was configured."""
    running = serve(app, port=port, name=name)
    if not app.config.get("PUBLIC_URL"):
        app.config["PUBLIC_URL"] = running.url
    return running
