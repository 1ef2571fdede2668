"""Reference target "ack-only": a webhook that verifies, audits and acknowledges, with no observable effect.

Contract (the acknowledge-only style in docs/profiles.md): ``POST /webhooks/stripe`` whose handlers only write
an audit record, and ``GET /api/health/stripe``. Faithful to the system it mirrors, the webhook demands
``Content-Type: application/json`` exactly and answers 415 to anything else — including the
``application/json; charset=utf-8`` that Stripe really sends (``strict_content_type=False`` fixes that).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from flask import Flask, jsonify, request

from smoke.reference._common import BadEvent, error, parse, serve_target, verify, well_formed
from smoke.reference._store import Database
from smoke.servers import RunningServer

FAULTS = {
    "accepts_bad_signatures": "answers 200 to every delivery, even one with a missing or bad signature",
    "error_on_bad_json": "answers 500 to a signed body that is not JSON",
    "slow_ack": "audits synchronously with a slow store and answers only afterwards",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, type TEXT, verified INTEGER,
    received REAL);
"""


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    strict_content_type: bool = True,
    slow_seconds: float = 2.0,
    **_ignored: Any,
) -> Flask:
    """The acknowledge-only webhook as a Flask app (Stripe API options are accepted and ignored: it calls nothing)."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
    app = Flask("smoke-ackonly")
    db = Database(SCHEMA)
    app.config.update(FAULTS=frozenset(faults), WEBHOOK_SECRET=webhook_secret)

    def audit(event: dict[str, Any], verified: bool) -> None:
        with db.connect() as conn:
            conn.execute("INSERT INTO audit (event_id, type, verified, received) VALUES (?, ?, ?, ?)",
                         (event.get("id"), event.get("type"), int(verified), time.time()))

    @app.get("/api/health/stripe")
    def health() -> Any:
        with db.connect() as conn:
            count = conn.execute("SELECT COUNT(*) AS n FROM audit").fetchone()["n"]
        return jsonify({"stripe": "ok", "webhook": "/webhooks/stripe", "events_audited": count})

    @app.post("/webhooks/stripe")
    def webhook() -> Any:
        active = app.config["FAULTS"]
        content_type = request.headers.get("Content-Type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if (content_type != "application/json" if strict_content_type else media_type != "application/json"):
            return error(415, "unsupported_media_type", "Content-Type must be application/json")
        payload = request.get_data(cache=False)
        if "accepts_bad_signatures" in active:
            try:
                event = parse(payload)
            except BadEvent:
                event = {}
            audit(event, verified=False)
            return jsonify({"received": True})
        try:
            event = verify(payload, request.headers.get("Stripe-Signature"), app.config["WEBHOOK_SECRET"])
        except BadEvent as exc:
            if exc.reason == "payload_invalid" and "error_on_bad_json" in active:
                return error(500, "internal", "unexpected error")
            return error(400, exc.reason)
        if not well_formed(event):
            return error(400, "payload_invalid")
        if "slow_ack" in active:
            time.sleep(slow_seconds)
        try:
            audit(event, verified=True)
        except sqlite3.Error:
            return error(500, "internal", "audit failed")
        return jsonify({"received": True})

    return app


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the acknowledge-only target on a free loopback port."""
    return serve_target(create_app(webhook_secret, faults=faults, **options), "ackonly", port)
