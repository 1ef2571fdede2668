"""Reference target "ack-only": a webhook that verifies, audits and acknowledges, with no observable effect.

Contract (the acknowledge-only style in docs/profiles.md): ``POST /webhooks/stripe`` whose handlers only write
an audit record, and ``GET /api/health/stripe``. Faithful to the system it mirrors, the webhook demands
``Content-Type: application/json`` exactly and answers 415 to anything else — including the
``application/json; charset=utf-8`` that Stripe really sends (``strict_content_type=False`` fixes that).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import BadEvent, error, parse
from smoke.reference.faults import faults_of
from smoke.servers import RunningServer

FAULTS = faults_of("ack-only")

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, type TEXT, verified INTEGER,
    received REAL);
"""

routes = Blueprint("ackonly", __name__)


@dataclass(frozen=True)
class _Settings:
    """How strict the webhook is about Content-Type, and how long its slow variant takes."""

    strict_content_type: bool
    slow_seconds: float


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    strict_content_type: bool = True,
    slow_seconds: float = 2.0,
    **_ignored: Any,
) -> Flask:
    """The acknowledge-only webhook as a Flask app (Stripe API options are accepted and ignored: it calls nothing)."""
    return base.open_app("ackonly", routes, webhook_secret, faults, known=FAULTS, schema=SCHEMA,
                    settings=_Settings(strict_content_type, slow_seconds))


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the acknowledge-only target on a free loopback port."""
    return base.serve_target(create_app(webhook_secret, faults=faults, **options), "ackonly", port)


def _audit(event: dict[str, Any], verified: bool) -> None:
    with base.db().connect() as conn:
        conn.execute("INSERT INTO audit (event_id, type, verified, received) VALUES (?, ?, ?, ?)",
                     (event.get("id"), event.get("type"), int(verified), time.time()))


@routes.get("/api/health/stripe")
def health() -> Any:
    """How many events the webhook has audited."""
    with base.db().connect() as conn:
        count = conn.execute("SELECT COUNT(*) AS n FROM audit").fetchone()["n"]
    return jsonify({"stripe": "ok", "webhook": "/webhooks/stripe", "events_audited": count})


@routes.post("/webhooks/stripe")
def webhook() -> Any:
    """Verify, audit, acknowledge: nothing a buyer could see changes."""
    active, options = base.faults(), base.settings(_Settings)
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if (content_type != "application/json" if options.strict_content_type else media_type != "application/json"):
        return error(415, "unsupported_media_type", "Content-Type must be application/json")
    if "accepts_bad_signatures" in active:
        try:
            event = parse(request.get_data(cache=False))
        except BadEvent:
            event = {}
        _audit(event, verified=False)
        return jsonify({"received": True})
    try:
        event = base.signed_event()
    except BadEvent as exc:
        # The fault crashes on a body that is not JSON; a JSON object that is no envelope is still refused cleanly.
        if exc.reason == "payload_invalid" and not isinstance(exc, base.Malformed) and "error_on_bad_json" in active:
            return error(500, "internal", "unexpected error")
        return error(400, exc.reason)
    if "slow_ack" in active:
        time.sleep(options.slow_seconds)
    try:
        _audit(event, verified=True)
    except sqlite3.Error:
        return error(500, "internal", "audit failed")
    return jsonify({"received": True})
