"""Reference target "topups": buyers top up a cents balance through Stripe Checkout.

The contract follows the top-up style in the README: register → bearer token,
``GET /api/billing/account`` for the balance, ``POST /api/billing/topups/checkout``
to start a payment, and ``POST /api/webhooks/stripe`` that credits on a paid
``checkout.session.completed``. ``faults`` turns on one deliberate bug at a time so
the harness's own tests can prove each check catches it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import math
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import stripe
from flask import Blueprint, Flask, Response, g, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import error
from smoke.reference._ratelimit import RateLimiter
from smoke.reference.faults import faults_of, quirks_of
from smoke.reference.topups_webhook import CREDITING, HANDLED, receive
from smoke.servers import RunningServer

FAULTS = faults_of("topups")

# Not bugs, but behaviour a correct target may show: the checks must stay green.
QUIRKS = quirks_of("topups")

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE, password TEXT, created INTEGER);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, org_id TEXT, api_key_name TEXT);
CREATE TABLE IF NOT EXISTS accounts (org_id TEXT PRIMARY KEY, balance_cents INTEGER NOT NULL DEFAULT 0, updated INTEGER,
    hold INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT, amount_cents INTEGER,
    kind TEXT, stripe_event_id TEXT, stripe_session_id TEXT, created INTEGER, committed_at REAL);
CREATE TABLE IF NOT EXISTS stripe_events (event_id TEXT PRIMARY KEY, type TEXT, received INTEGER);
CREATE TABLE IF NOT EXISTS first_attempts (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS checkouts (session_id TEXT PRIMARY KEY, org_id TEXT, amount_cents INTEGER, created INTEGER);
"""

routes = Blueprint("topups", __name__)


@dataclass(frozen=True)
class _Settings:
    """The rate limit (which routes, whether the webhook counts) and how long the slow variant's webhook takes."""

    limiter: RateLimiter
    limit_webhook: bool
    limited_routes: tuple[str, ...]
    slow_seconds: float


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    stripe_api_key: str | None = None,
    stripe_api_base: str | None = None,
    public_url: str = "",
    rate_limit_per_minute: int | None = None,
    rate_limit_webhook: bool = True,
    rate_limit_routes: tuple[str, ...] = ("/*",),
    rate_limit_headers: str = "ietf",
    rate_limit_window: float = 60.0,
    slow_seconds: float = 2.0,
) -> Flask:
    """The top-ups billing API as a Flask app (``faults`` names bugs from FAULTS to switch on)."""
    options = _Settings(RateLimiter(rate_limit_per_minute, rate_limit_headers, rate_limit_window), rate_limit_webhook,
                        tuple(rate_limit_routes), slow_seconds)
    app = base.open_app("topups", routes, webhook_secret, faults, known={*FAULTS, *QUIRKS}, schema=SCHEMA,
                        public_url=public_url, stripe_api_key=stripe_api_key, stripe_api_base=stripe_api_base,
                        settings=options)
    if "credits_wrong_account" in faults:
        with app.config["DB"].transaction() as conn:  # the account every real deployment has before its first customer
            conn.execute("INSERT INTO orgs VALUES ('org_house', 'house', 'house@example.test', '-', 0)")
            conn.execute("INSERT INTO accounts (org_id, balance_cents, updated) VALUES ('org_house', 0, 0)")
    return app


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the top-ups target on a free loopback port."""
    return base.serve_target(create_app(webhook_secret, faults=faults, **options), "topups", port)


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def _current_org() -> str | None:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.headers.get("X-API-Key", "")
    if not token:
        return None
    with base.db().connect() as conn:
        row = conn.execute("SELECT org_id FROM tokens WHERE token = ?", (token,)).fetchone()
    return row["org_id"] if row else None


def _issue_token(conn: sqlite3.Connection, org_id: str, name: str) -> dict[str, str]:
    token, api_key = secrets.token_urlsafe(24), "ak_" + secrets.token_urlsafe(24)
    conn.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, org_id, name))
    conn.execute("INSERT INTO tokens VALUES (?, ?, ?)", (api_key, org_id, name))
    return {"apiKey": api_key, "token": token}


@routes.before_app_request
def rate_limit() -> Any:
    """Count the request against its route's budget; a 429 with Retry-After when it is spent."""
    options = base.settings(_Settings)
    limiter = options.limiter
    if not limiter.per_minute or (not options.limit_webhook and request.path == "/api/webhooks/stripe") \
            or not any(fnmatch.fnmatchcase(request.path, pattern) for pattern in options.limited_routes):
        return None
    # Per route and key: each buyer's token (or API key) has its own budget; without one, the client's address.
    key = request.headers.get("Authorization") or request.headers.get("X-API-Key") or request.remote_addr or "-"
    allowed, remaining, reset = limiter.take(request.path, key)
    g.rate_limit_headers = limiter.headers(remaining, reset)
    if not allowed:
        response, status = error(429, "rate_limited", "too many requests")
        response.headers["Retry-After"] = str(max(1, math.ceil(reset)))
        response.headers.update(g.rate_limit_headers)
        return response, status
    return None


@routes.after_app_request
def add_rate_limit_headers(response: Response) -> Response:
    """Say what is left of the budget on every answer of a limited route."""
    for name, value in (getattr(g, "rate_limit_headers", None) or {}).items():
        response.headers.setdefault(name, value)
    return response


@routes.get("/health")
def health() -> Any:
    """Up."""
    return jsonify({"ok": True, "service": "topups"})


@routes.post("/api/org/register")
def register() -> Any:
    """Register an organisation: its account, a bearer token and an API key."""
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
    if "@" not in email or len(password) < 8:
        return error(400, "invalid_request", "email and a password of 8+ characters are required")
    org_id, salt = secrets.token_hex(8), secrets.token_hex(8)
    with base.db().transaction() as conn:
        if conn.execute("SELECT 1 FROM orgs WHERE email = ?", (email,)).fetchone():
            return error(409, "email_already_registered", "an organisation with this email exists")
        conn.execute("INSERT INTO orgs VALUES (?, ?, ?, ?, ?)",
                     (org_id, body.get("orgName", ""), email, f"{salt}${_hash_password(password, salt)}", int(time.time())))
        conn.execute("INSERT INTO accounts (org_id, balance_cents, updated) VALUES (?, 0, ?)", (org_id, int(time.time())))
        keys = _issue_token(conn, org_id, str(body.get("apiKeyName", "default")))
    return jsonify({"orgId": org_id, "userId": "usr_" + org_id, "email": email, "role": "owner", **keys}), 201


@routes.post("/api/org/api-keys")
def api_keys() -> Any:
    """A fresh token and API key for an organisation's email and password."""
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
    with base.db().transaction() as conn:
        row = conn.execute("SELECT id, password FROM orgs WHERE email = ?", (email,)).fetchone()
        if not row:
            return error(401, "invalid_credentials", "unknown email or wrong password")
        salt, digest = row["password"].split("$", 1)
        if not hmac.compare_digest(digest, _hash_password(password, salt)):
            return error(401, "invalid_credentials", "unknown email or wrong password")
        keys = _issue_token(conn, row["id"], str(body.get("name", "default")))
    return jsonify(keys), 201


@routes.post("/api/billing/hold")
def hold() -> Any:
    """Put the caller's account on hold (payments wait: the webhook answers 503 until released) or release it."""
    org_id = _current_org()
    if not org_id:
        return error(401, "unauthorized", "a bearer token is required")
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("hold"), bool):
        return error(400, "invalid", "hold must be true or false")
    with base.db().transaction() as conn:
        conn.execute("UPDATE accounts SET hold = ? WHERE org_id = ?", (int(body["hold"]), org_id))
    return jsonify({"org_id": org_id, "hold": body["hold"]})


@routes.get("/api/billing/account")
def account() -> Any:
    """The caller's balance."""
    org_id = _current_org()
    if not org_id:
        return error(401, "unauthorized", "a bearer token is required")
    with base.db().connect() as conn:
        row = conn.execute("SELECT balance_cents, updated FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
    return jsonify({"account": {"id": f"acct_{org_id}", "org_id": org_id, "balance_cents": row["balance_cents"],
                                "currency": "usd", "updated_at": row["updated"]}})


@routes.get("/api/billing/events")
def ledger() -> Any:
    """The caller's ledger: every credit and refund."""
    org_id = _current_org()
    if not org_id:
        return error(401, "unauthorized", "a bearer token is required")
    with base.db().connect() as conn:
        rows = conn.execute("SELECT * FROM ledger WHERE org_id = ? ORDER BY id", (org_id,)).fetchall()
    return jsonify({"events": [dict(r) for r in rows]})


@routes.post("/api/billing/topups/checkout")
def topup_checkout() -> Any:
    """Start a top-up: a Checkout Session (or a placeholder without Stripe)."""
    org_id = _current_org()
    if not org_id:
        return error(401, "unauthorized", "a bearer token is required")
    body = request.get_json(silent=True) or {}
    amount = body.get("amountCents")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 50 <= amount <= 1_000_000:
        return error(400, "invalid_amount", "amountCents must be a whole number of cents between 50 and 1000000")
    home, client = base.public_base(), base.stripe_api()
    success = body.get("successUrl") or f"{home}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
    cancel = body.get("cancelUrl") or f"{home}/billing/cancel"
    metadata = {"orgId": org_id, "accountId": f"acct_{org_id}"}
    if client is None:
        # No Stripe configured: a placeholder session, enough for simulated webhooks.
        session_id, url, intent = "cs_test_" + secrets.token_hex(16), f"{home}/billing/no-stripe", None
    else:
        try:
            session = client.v1.checkout.sessions.create(params={
                "mode": "payment",
                "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount,
                                                              "product_data": {"name": "Account top-up"}}}],
                "metadata": metadata, "payment_intent_data": {"metadata": metadata},
                "client_reference_id": org_id, "success_url": success, "cancel_url": cancel,
            })
        except stripe.StripeError as exc:
            return error(502, "stripe_error", str(exc.user_message or exc))
        session_id, url, intent = session.id, session.url or "", getattr(session, "payment_intent", None)
    with base.db().connect() as conn:
        conn.execute("INSERT INTO checkouts VALUES (?, ?, ?, ?)", (session_id, org_id, amount, int(time.time())))
    return jsonify({"checkoutUrl": url, "stripeSessionId": session_id, "paymentIntentId": intent})


@routes.get("/billing/success")
def success_page() -> Any:
    """Where Checkout sends the buyer after paying."""
    return "Thanks! Your top-up is being processed.", 200


@routes.get("/billing/cancel")
def cancel_page() -> Any:
    """Where Checkout sends a buyer who cancels."""
    return "Top-up cancelled.", 200


@routes.post("/api/webhooks/stripe")
def webhook() -> Any:
    """Credit a paid Checkout Session once (see ``topups_webhook``; faults change how)."""
    return receive(base.settings(_Settings).slow_seconds)


__all__ = ["CREDITING", "FAULTS", "HANDLED", "QUIRKS", "SCHEMA", "create_app", "start"]
