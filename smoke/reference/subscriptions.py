"""Reference target "subscriptions": one-off payments and subscriptions for users who log in with a JWT.

Contract (the subscriptions style in docs/profiles.md): ``POST /api/auth/register`` / ``POST /api/auth/login``
→ an HS256 JWT (``Authorization: Bearer``); ``POST /api/payments/checkout {amount (dollars), …}`` →
``{sessionId, url, payment_id}`` and a pending payment; ``GET /api/payments`` → the payments, the paid total
in cents and the subscription; ``POST /api/webhooks/stripe`` handling ``checkout.session.completed``
(payment → paid), ``invoice.paid`` / ``invoice.payment_succeeded`` / ``invoice.payment_failed``,
``customer.subscription.created/updated/deleted`` (subscription status) and ``charge.refunded``,
deduplicated by event id. A paid renewal invoice (``billing_reason: subscription_cycle``) is booked once per
invoice, whichever of its events come and however often: ``GET /api/payments`` lists ``renewals`` and
``renewals_total_cents`` (apart from ``paid_total_cents``, the one-off payments).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import jwt
import stripe
from flask import Blueprint, Flask, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import BadEvent
from smoke.reference.faults import faults_of
from smoke.servers import RunningServer

FAULTS = faults_of("subscriptions")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT UNIQUE, password TEXT, created INTEGER);
CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, user_id TEXT, amount_cents INTEGER, currency TEXT,
    description TEXT, status TEXT, stripe_session_id TEXT, stripe_payment_intent TEXT, created INTEGER, paid_at INTEGER);
CREATE TABLE IF NOT EXISTS transactions (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, payment_id TEXT,
    amount_cents INTEGER, kind TEXT, stripe_event_id TEXT, created INTEGER);
CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, user_id TEXT, status TEXT, updated INTEGER);
CREATE TABLE IF NOT EXISTS subscription_invoices (id TEXT PRIMARY KEY, subscription_id TEXT, user_id TEXT,
    amount_paid INTEGER, status TEXT, updated INTEGER);
CREATE TABLE IF NOT EXISTS stripe_events (event_id TEXT PRIMARY KEY, type TEXT, received INTEGER);
CREATE TABLE IF NOT EXISTS renewals (id INTEGER PRIMARY KEY AUTOINCREMENT, invoice_id TEXT, subscription_id TEXT,
    user_id TEXT, amount_cents INTEGER, currency TEXT, period_start INTEGER, period_end INTEGER, stripe_event_id TEXT,
    created INTEGER);
"""

TOKEN_MINUTES = 60

routes = Blueprint("subscriptions", __name__)


@dataclass(frozen=True)
class _Settings:
    """The key the JWTs are signed with, and every credential handed out (tests prove none reaches a report)."""

    signing_key: str
    issued: list[str] = field(default_factory=list)


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def _detail(status: int, detail: str) -> tuple[Any, int]:
    return jsonify({"detail": detail}), status


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    jwt_secret: str | None = None,
    stripe_api_key: str | None = None,
    stripe_api_base: str | None = None,
    public_url: str = "",
) -> Flask:
    """The payments-and-subscriptions API as a Flask app."""
    options = _Settings(jwt_secret or secrets.token_urlsafe(32))
    return base.open_app("subscriptions", routes, webhook_secret, faults, known=FAULTS, schema=SCHEMA,
                         public_url=public_url, stripe_api_key=stripe_api_key, stripe_api_base=stripe_api_base,
                         settings=options, ISSUED=options.issued)


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the subscriptions target on a free loopback port."""
    return base.serve_target(create_app(webhook_secret, faults=faults, **options), "subscriptions", port)


def _token_for(user_id: str) -> dict[str, Any]:
    options = base.settings(_Settings)
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + TOKEN_MINUTES * 60}
    access = jwt.encode(claims, options.signing_key, algorithm="HS256")
    refresh = jwt.encode({**claims, "typ": "refresh", "exp": now + 30 * 86400}, options.signing_key, algorithm="HS256")
    options.issued.extend((access, refresh))
    # Like many auth APIs: the access token on top, the refresh token in a nested session object.
    return {"access_token": access, "token_type": "bearer", "expires_in": TOKEN_MINUTES * 60,
            "session": {"refresh_token": refresh, "expires_in": 30 * 86400}}


def _current_user() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(header[7:], base.settings(_Settings).signing_key, algorithms=["HS256"],
                            options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])


@routes.get("/health")
def health() -> Any:
    """Up."""
    return jsonify({"status": "ok", "service": "subscriptions"})


@routes.post("/api/auth/register")
def register() -> Any:
    """Sign up: a user, tokens and one-time recovery codes."""
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
    if "@" not in email or len(password) < 8:
        return _detail(422, "email and a password of 8+ characters are required")
    user_id, salt = "usr_" + secrets.token_hex(8), secrets.token_hex(8)
    with base.db().transaction() as conn:
        if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
            return _detail(409, "email_already_registered")
        conn.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (user_id, email, f"{salt}${_hash(password, salt)}", int(time.time())))
    # One-time recovery codes: opaque, shown once, secret only because the profile says so.
    codes = [secrets.token_hex(5) for _ in range(3)]
    base.settings(_Settings).issued.extend(codes)
    return jsonify({"user": {"id": user_id, "email": email, "recovery_codes": codes}, **_token_for(user_id)}), 201


@routes.post("/api/auth/login")
def login() -> Any:
    """Log in: fresh tokens."""
    body = request.get_json(silent=True) or {}
    email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
    with base.db().connect() as conn:
        row = conn.execute("SELECT id, password FROM users WHERE email = ?", (email,)).fetchone()
    if not row or not hmac.compare_digest(row["password"].split("$", 1)[1], _hash(password, row["password"].split("$", 1)[0])):
        return _detail(401, "invalid_credentials")
    return jsonify(_token_for(row["id"]))


@routes.get("/api/auth/me")
def me() -> Any:
    """The user, with a personal API key."""
    user_id = _current_user()
    if not user_id:
        return _detail(401, "not_authenticated")
    with base.db().connect() as conn:
        row = conn.execute("SELECT id, email FROM users WHERE id = ?", (user_id,)).fetchone()
    if not row:
        return _detail(401, "not_authenticated")
    key = "uk_" + secrets.token_hex(12)  # a personal API key, as account pages often return
    base.settings(_Settings).issued.append(key)
    return jsonify({"id": row["id"], "email": row["email"], "settings": {"api_key": key}})


@routes.post("/api/payments/checkout")
def checkout() -> Any:
    """Start a one-off payment: a Checkout Session and a pending payment."""
    user_id = _current_user()
    if not user_id:
        return _detail(401, "not_authenticated")
    body = request.get_json(silent=True) or {}
    try:
        dollars = Decimal(str(body.get("amount")))
    except InvalidOperation:
        return _detail(422, "amount must be a number of dollars")
    if not dollars.is_finite() or dollars < Decimal("0.50") or dollars > 10000 or dollars != dollars.quantize(Decimal("0.01")):
        return _detail(422, "amount must be between 0.50 and 10000 dollars, to the cent")
    cents = int(dollars) if "dollars_as_cents" in base.faults() else int(dollars * 100)
    payment_id = "pay_" + secrets.token_hex(10)
    currency = str(body.get("currency", "usd")).lower()
    home, client = base.public_base(), base.stripe_api()
    metadata = {"user_id": user_id, "payment_id": payment_id}
    if client is None:
        session_id, url, intent = "cs_test_" + secrets.token_hex(16), f"{home}/payments/no-stripe", None
    else:
        try:
            session = client.v1.checkout.sessions.create(params={
                "mode": "payment", "metadata": metadata, "payment_intent_data": {"metadata": metadata},
                "client_reference_id": user_id,
                "line_items": [{"quantity": 1, "price_data": {"currency": currency, "unit_amount": cents,
                                                              "product_data": {"name": str(body.get("description") or "Payment")}}}],
                "success_url": f"{home}/payments/success?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{home}/payments/cancel",
            })
        except stripe.StripeError as exc:
            return _detail(502, str(exc.user_message or exc))
        session_id, url, intent = session.id, session.url or "", getattr(session, "payment_intent", None)
    with base.db().connect() as conn:
        conn.execute("INSERT INTO payments VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, NULL)",
                     (payment_id, user_id, cents, currency, str(body.get("description", "")), session_id, intent, int(time.time())))
    return jsonify({"sessionId": session_id, "url": url, "payment_id": payment_id})


@routes.get("/api/payments")
def payments() -> Any:
    """The user's payments, paid total, subscription and renewals."""
    user_id = _current_user()
    if not user_id:
        return _detail(401, "not_authenticated")
    with base.db().connect() as conn:
        rows = [dict(r) for r in conn.execute("SELECT id, amount_cents, currency, status, stripe_session_id, created, paid_at "
                                              "FROM payments WHERE user_id = ? ORDER BY created, id", (user_id,))]
        total = conn.execute("SELECT COALESCE(SUM(amount_cents), 0) AS t FROM transactions WHERE user_id = ?",
                             (user_id,)).fetchone()["t"]
        sub = conn.execute("SELECT id, status FROM subscriptions WHERE user_id = ? ORDER BY updated DESC LIMIT 1",
                           (user_id,)).fetchone()
        renewals = [dict(r) for r in conn.execute(
            "SELECT invoice_id, subscription_id, amount_cents, currency, period_start, period_end, created "
            "FROM renewals WHERE user_id = ? ORDER BY id", (user_id,))]
    return jsonify({"payments": rows, "paid_total_cents": total, "subscription": dict(sub) if sub else None,
                    "renewals": renewals, "renewals_total_cents": sum(r["amount_cents"] for r in renewals)})


@routes.get("/payments/success")
def success_page() -> Any:
    """Where Checkout sends the buyer after paying."""
    return "Payment received.", 200


@routes.get("/payments/cancel")
def cancel_page() -> Any:
    """Where Checkout sends a buyer who cancels."""
    return "Payment cancelled.", 200


# -- the webhook ------------------------------------------------------------------
def _owner(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("user_id")


def _session_completed(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    session = event["data"]["object"]
    if session.get("mode", "payment") != "payment":
        return "ignored"  # subscription checkouts are settled by invoice and subscription events
    paid = session.get("payment_status") == "paid" or event["type"] == "checkout.session.async_payment_succeeded"
    if not paid and "credits_unpaid" not in base.faults():
        return "pending"
    payment_id = (session.get("metadata") or {}).get("payment_id")
    row = conn.execute("SELECT * FROM payments WHERE id = ? AND user_id = ?", (payment_id, _owner(session))).fetchone()
    if row is None:
        return "ignored"
    guard = "" if "no_dedupe" in base.faults() else " AND status = 'pending'"
    changed = conn.execute(f"UPDATE payments SET status = 'paid', paid_at = ?, stripe_payment_intent = ? WHERE id = ?{guard}",
                           (int(time.time()), session.get("payment_intent"), row["id"])).rowcount
    if not changed:
        return "already_paid"
    conn.execute("INSERT INTO transactions (user_id, payment_id, amount_cents, kind, stripe_event_id, created) "
                 "VALUES (?, ?, ?, 'payment', ?, ?)", (row["user_id"], row["id"], row["amount_cents"], event["id"], int(time.time())))
    return "paid"


def _refunded(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    charge = event["data"]["object"]
    payment_id = (charge.get("metadata") or {}).get("payment_id")
    row = conn.execute("SELECT * FROM payments WHERE (id = ? OR stripe_payment_intent = ?) AND status = 'paid'",
                       (payment_id, charge.get("payment_intent") or "-")).fetchone()
    amount = charge.get("amount_refunded")
    if row is None or not isinstance(amount, int) or amount <= 0:
        return "ignored"
    amount = min(amount, row["amount_cents"])
    conn.execute("UPDATE payments SET status = ? WHERE id = ?",
                 ("refunded" if amount == row["amount_cents"] else "partially_refunded", row["id"]))
    conn.execute("INSERT INTO transactions (user_id, payment_id, amount_cents, kind, stripe_event_id, created) "
                 "VALUES (?, ?, ?, 'refund', ?, ?)", (row["user_id"], row["id"], -amount, event["id"], int(time.time())))
    return "refunded"


def _subscription_changed(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    sub = event["data"]["object"]
    known = conn.execute("SELECT user_id FROM subscriptions WHERE id = ?", (sub.get("id"),)).fetchone()
    user_id = _owner(sub) or (known or {"user_id": None})["user_id"]
    if not user_id:
        return "ignored"
    status = "canceled" if event["type"] == "customer.subscription.deleted" else str(sub.get("status"))
    conn.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                 "updated = excluded.updated", (sub.get("id"), user_id, status, int(time.time())))
    return status


def _invoice_event(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    invoice = event["data"]["object"]
    # basil and later name the subscription (and its metadata) under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    sub_id = invoice.get("subscription") or details.get("subscription")
    known = conn.execute("SELECT user_id FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
    user_id = known["user_id"] if known else _owner(invoice) or _owner(details)
    if not sub_id or not user_id:
        return "ignored"
    succeeded = event["type"] in ("invoice.paid", "invoice.payment_succeeded")
    if succeeded and invoice.get("billing_reason") == "subscription_cycle":
        _book_renewal(conn, event, invoice, sub_id, user_id)
    conn.execute("INSERT INTO subscription_invoices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                 "status = excluded.status, amount_paid = excluded.amount_paid, updated = excluded.updated",
                 (invoice.get("id"), sub_id, user_id, invoice.get("amount_paid") or 0,
                  "paid" if succeeded else "failed", int(time.time())))
    conn.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                 "updated = excluded.updated", (sub_id, user_id, "active" if succeeded else "past_due", int(time.time())))
    return "recorded"


def _book_renewal(conn: sqlite3.Connection, event: dict[str, Any], invoice: dict[str, Any], sub_id: str,
                 user_id: str) -> None:
    """A renewal is booked once per invoice: invoice.paid and invoice.payment_succeeded both name it."""
    amount = invoice.get("amount_paid")
    if not isinstance(amount, int) or amount <= 0:
        return
    if "no_dedupe" not in base.faults() and conn.execute(
            "SELECT 1 FROM renewals WHERE invoice_id = ?", (invoice.get("id"),)).fetchone():
        return
    lines = ((invoice.get("lines") or {}).get("data") or [{}])
    period = lines[0].get("period") or {}
    conn.execute("INSERT INTO renewals (invoice_id, subscription_id, user_id, amount_cents, currency, period_start, "
                 "period_end, stripe_event_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (invoice.get("id"), sub_id, user_id, amount, invoice.get("currency"), period.get("start"),
                  period.get("end"), event["id"], int(time.time())))


HANDLERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_completed,
    "charge.refunded": _refunded,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_event,
    "invoice.payment_succeeded": _invoice_event,
    "invoice.payment_failed": _invoice_event,
}


@routes.post("/api/webhooks/stripe")
def webhook() -> Any:
    """Apply a payment, subscription or invoice event once per event id."""
    try:
        event = base.signed_event()
    except BadEvent as exc:
        return _detail(400, exc.reason)
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return jsonify({"received": True, "handled": False})
    try:
        outcome = base.handle_once(event, handler, dedupe="no_dedupe" not in base.faults())
    except base.Duplicate:
        return jsonify({"received": True, "duplicate": True})
    return jsonify({"received": True, "result": outcome})
