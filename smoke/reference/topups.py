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
import json
import math
import secrets
import sqlite3
import threading
import time
from collections import deque
from typing import Any

import stripe
from flask import Flask, Response, g, jsonify, request

from smoke.reference._common import NotAnEvent, construct_event, serve_target, well_formed
from smoke.reference._store import Database
from smoke.servers import RunningServer

FAULTS = {
    "no_signature_check": "credits without checking the Stripe-Signature header at all",
    "any_signature": "accepts any v1 signature (wrong secret, tampered body)",
    "no_timestamp_tolerance": "accepts signatures with a timestamp of any age (replays)",
    "accepts_v0": "accepts a v0 signature as if it were v1",
    "crashes_on_bad_header": "answers 500 to a malformed Stripe-Signature header",
    "reserialized_body": "verifies the signature over a re-serialised body instead of the raw bytes",
    "no_dedupe": "credits every delivery of the same event",
    "check_then_insert": "checks for a duplicate, then credits, then records: a race under concurrent duplicates",
    "lost_update": "reads the balance, waits a moment, writes back old + amount without a lock: concurrent payments "
                   "overwrite each other's credit",
    "credits_unpaid": "credits a checkout.session.completed whose payment_status is unpaid",
    "credits_failed_payment": "credits payment_intent.payment_failed and async_payment_failed events",
    "credits_every_success": "credits payment_intent.succeeded as well as checkout.session.completed",
    "wrong_amount": "credits amount_total / 100 (dollars instead of cents)",
    "error_on_unknown": "answers 500 to event types it does not handle",
    "error_on_bad_json": "answers 500 to a body that is not JSON",
    "slow_ack": "answers the webhook only after slow work",
    "ack_without_credit": "answers 200 to a crediting event but never credits",
    "records_before_processing": "records the event id, then fails (500); Stripe's retry is acknowledged as a duplicate",
    "drops_on_hold": "answers 200 to a payment for an account on hold and never applies it",
    "records_first": "records the event id in its own transaction before crediting; when crediting fails (an account "
                     "on hold), Stripe's retry is acknowledged as a duplicate",
    "ignores_refunds": "acknowledges charge.refunded without taking the credit back",
    "credits_wrong_account": "credits the oldest account (the house account) instead of the event's metadata.orgId",
    "crashes_on_unplaceable": "answers 500 to a paid event whose metadata.orgId is missing or names no account",
    "credits_latest_account": "credits the newest account when a paid event's metadata.orgId is missing or names none",
    "ignores_async_success": "acknowledges checkout.session.async_payment_succeeded without crediting it",
    "crashes_on_non_event": "answers 500 to a JSON body that is not an event object, signed or not",
    "acknowledges_everything": "answers 200 to every request to the webhook, signed or not, and credits nothing",
    "catch_all_200": "verifies signatures, but a catch-all error handler answers 200 when verification fails",
    "compares_prefix": "compares only the first 16 hex characters of the v1 signature",
    "accepts_truncated": "accepts a v1 value that the right signature starts with (startswith)",
    "loose_tolerance": "accepts timestamps up to 10 minutes old (Stripe's tolerance is 5)",
    "crashes_on_rotation": "answers 500 to a Stripe-Signature header with more than one v1 value",
    "first_v1_only": "checks only the first v1 value of the header, so a rolled secret's events are rejected",
}

# Not bugs, but behaviour a correct target may show: the checks must stay green.
QUIRKS = {
    "transient_failure": "answers 500 to the first delivery of each crediting event, then credits on the retry",
}

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

CREDITING = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
HANDLED = CREDITING | {"checkout.session.expired", "checkout.session.async_payment_failed",
                       "payment_intent.succeeded", "payment_intent.payment_failed", "charge.succeeded",
                       "charge.updated", "charge.refunded", "payment_intent.created", "customer.created"}


def _ledger(conn: sqlite3.Connection, org_id: str, amount: int, event_id: str, session_id: str | None) -> None:
    """Record a credit; ``committed_at`` (float seconds) lets the benchmark time detection."""
    conn.execute("INSERT INTO ledger (org_id, amount_cents, kind, stripe_event_id, stripe_session_id, created, committed_at) "
                 "VALUES (?, ?, 'topup', ?, ?, ?, ?)", (org_id, amount, event_id, session_id, int(time.time()), time.time()))


def _hand_verified(payload: bytes, header: str, secret: str, matches: Any) -> dict[str, Any]:
    """A hand-written verifier (as faulty variants have them): ``matches(expected, given)`` compares one v1 value."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamp = next((value for key, value in parts if key == "t"), "")
    given = [value for key, value in parts if key == "v1" and value]
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300 or not given:
        raise stripe.SignatureVerificationError("stripe_signature_invalid", header, payload)
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    if not any(matches(expected, value) for value in given):
        raise stripe.SignatureVerificationError("stripe_signature_invalid", header, payload)
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise NotAnEvent("the body is JSON but not an object, so not an event")
    return event


def _event_like(payload: bytes) -> bool:
    """Whether ``payload`` is anything but JSON that is not an event (a faulty variant's test before indexing into it)."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        return True  # not JSON at all: refused further on, like any bad body
    return well_formed(parsed)


class _Crash(Exception):
    """An unexpected error in a faulty variant: answered with a 500."""


class _OnHold(Exception):
    """The account is on hold: a payment can't be applied now, but can later."""


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


class _RateLimiter:
    """At most ``per_minute`` requests per route and key in any ``window`` seconds (60), answering 429 with Retry-After.

    Each answer on a limited route says what is left, in the style ``headers`` names: ``ietf`` (``RateLimit-Limit``,
    ``-Remaining``, ``-Reset`` in seconds, ``RateLimit-Policy: 60;w=60``), ``x`` (``X-RateLimit-*``, the reset as an
    epoch time) or ``none`` (only a 429's Retry-After). The reset is when the oldest counted request stops counting."""

    def __init__(self, per_minute: int | None, headers: str = "ietf", window: float = 60.0) -> None:
        if headers not in ("ietf", "x", "none"):
            raise ValueError(f"rate_limit_headers must be ietf, x or none, not {headers!r}")
        self.per_minute = per_minute
        self.window = window
        self.style = headers
        self.hits: dict[tuple[str, str], deque[float]] = {}
        self.lock = threading.Lock()

    def take(self, route: str, key: str) -> tuple[bool, int, float]:
        """Count one request: whether it is allowed, how many are left, and seconds until the oldest counted expires."""
        per_minute = self.per_minute or 0
        now = time.monotonic()
        with self.lock:
            log = self.hits.setdefault((route, key), deque())
            while log and now - log[0] >= self.window:
                log.popleft()
            allowed = len(log) < per_minute
            if allowed:
                log.append(now)
            return allowed, per_minute - len(log), self.window - (now - log[0])

    def retry_after(self, route: str, client: str) -> float | None:
        """Seconds to wait when one more request on ``route`` by ``client`` would pass the limit (counting it if not)."""
        if not self.per_minute:
            return None
        allowed, _, reset = self.take(route, client)
        return None if allowed else reset

    def headers(self, remaining: int, reset: float) -> dict[str, str]:
        """The headers that tell a client what is left of its budget and when the oldest request stops counting."""
        seconds = max(1, math.ceil(reset))
        if self.style == "ietf":
            return {"RateLimit-Limit": str(self.per_minute), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(seconds), "RateLimit-Policy": f"{self.per_minute};w={self.window:g}"}
        if self.style == "x":
            return {"X-RateLimit-Limit": str(self.per_minute), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(math.ceil(time.time() + reset))}
        return {}


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
    unknown = set(faults) - set(FAULTS) - set(QUIRKS)
    if unknown:
        raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
    app = Flask("smoke-topups")
    db = Database(SCHEMA)
    limiter = _RateLimiter(rate_limit_per_minute, rate_limit_headers, rate_limit_window)
    stripe_client = (stripe.StripeClient(stripe_api_key, base_addresses={"api": stripe_api_base} if stripe_api_base else None)
                     if stripe_api_key else None)
    # The secret is read per request: an embedded run learns it only after the endpoint is registered.
    app.config.update(DB=db, FAULTS=frozenset(faults), PUBLIC_URL=public_url, WEBHOOK_SECRET=webhook_secret)
    if "credits_wrong_account" in faults:
        with db.transaction() as conn:  # the account every real deployment has before its first customer
            conn.execute("INSERT INTO orgs VALUES ('org_house', 'house', 'house@example.test', '-', 0)")
            conn.execute("INSERT INTO accounts (org_id, balance_cents, updated) VALUES ('org_house', 0, 0)")

    @app.before_request
    def rate_limit() -> Any:
        if not rate_limit_per_minute or (not rate_limit_webhook and request.path == "/api/webhooks/stripe") \
                or not any(fnmatch.fnmatchcase(request.path, pattern) for pattern in rate_limit_routes):
            return None
        # Per route and key: each buyer's token (or API key) has its own budget; without one, the client's address.
        key = request.headers.get("Authorization") or request.headers.get("X-API-Key") or request.remote_addr or "-"
        allowed, remaining, reset = limiter.take(request.path, key)
        g.rate_limit_headers = limiter.headers(remaining, reset)
        if not allowed:
            response, status = _error(429, "rate_limited", "too many requests")
            response.headers["Retry-After"] = str(max(1, math.ceil(reset)))
            response.headers.update(g.rate_limit_headers)
            return response, status
        return None

    @app.after_request
    def add_rate_limit_headers(response: Response) -> Response:
        for name, value in (getattr(g, "rate_limit_headers", None) or {}).items():
            response.headers.setdefault(name, value)
        return response

    def current_org() -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.headers.get("X-API-Key", "")
        if not token:
            return None
        with db.connect() as conn:
            row = conn.execute("SELECT org_id FROM tokens WHERE token = ?", (token,)).fetchone()
        return row["org_id"] if row else None

    def issue_token(conn: sqlite3.Connection, org_id: str, name: str) -> dict[str, str]:
        token, api_key = secrets.token_urlsafe(24), "ak_" + secrets.token_urlsafe(24)
        conn.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, org_id, name))
        conn.execute("INSERT INTO tokens VALUES (?, ?, ?)", (api_key, org_id, name))
        return {"apiKey": api_key, "token": token}

    @app.get("/health")
    def health() -> Any:
        return jsonify({"ok": True, "service": "topups"})

    @app.post("/api/org/register")
    def register() -> Any:
        body = request.get_json(silent=True) or {}
        email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
        if "@" not in email or len(password) < 8:
            return _error(400, "invalid_request", "email and a password of 8+ characters are required")
        org_id, salt = secrets.token_hex(8), secrets.token_hex(8)
        with db.transaction() as conn:
            if conn.execute("SELECT 1 FROM orgs WHERE email = ?", (email,)).fetchone():
                return _error(409, "email_already_registered", "an organisation with this email exists")
            conn.execute("INSERT INTO orgs VALUES (?, ?, ?, ?, ?)",
                         (org_id, body.get("orgName", ""), email, f"{salt}${_hash_password(password, salt)}", int(time.time())))
            conn.execute("INSERT INTO accounts (org_id, balance_cents, updated) VALUES (?, 0, ?)", (org_id, int(time.time())))
            keys = issue_token(conn, org_id, str(body.get("apiKeyName", "default")))
        return jsonify({"orgId": org_id, "userId": "usr_" + org_id, "email": email, "role": "owner", **keys}), 201

    @app.post("/api/org/api-keys")
    def api_keys() -> Any:
        body = request.get_json(silent=True) or {}
        email, password = str(body.get("email", "")).strip().lower(), str(body.get("password", ""))
        with db.transaction() as conn:
            row = conn.execute("SELECT id, password FROM orgs WHERE email = ?", (email,)).fetchone()
            if not row:
                return _error(401, "invalid_credentials", "unknown email or wrong password")
            salt, digest = row["password"].split("$", 1)
            if not hmac.compare_digest(digest, _hash_password(password, salt)):
                return _error(401, "invalid_credentials", "unknown email or wrong password")
            keys = issue_token(conn, row["id"], str(body.get("name", "default")))
        return jsonify(keys), 201

    @app.post("/api/billing/hold")
    def hold() -> Any:
        """Put the caller's account on hold (payments wait: the webhook answers 503 until released) or release it."""
        org_id = current_org()
        if not org_id:
            return _error(401, "unauthorized", "a bearer token is required")
        body = request.get_json(silent=True) or {}
        if not isinstance(body.get("hold"), bool):
            return _error(400, "invalid", "hold must be true or false")
        with db.transaction() as conn:
            conn.execute("UPDATE accounts SET hold = ? WHERE org_id = ?", (int(body["hold"]), org_id))
        return jsonify({"org_id": org_id, "hold": body["hold"]})

    @app.get("/api/billing/account")
    def account() -> Any:
        org_id = current_org()
        if not org_id:
            return _error(401, "unauthorized", "a bearer token is required")
        with db.connect() as conn:
            row = conn.execute("SELECT balance_cents, updated FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
        return jsonify({"account": {"id": f"acct_{org_id}", "org_id": org_id, "balance_cents": row["balance_cents"],
                                    "currency": "usd", "updated_at": row["updated"]}})

    @app.get("/api/billing/events")
    def ledger() -> Any:
        org_id = current_org()
        if not org_id:
            return _error(401, "unauthorized", "a bearer token is required")
        with db.connect() as conn:
            rows = conn.execute("SELECT * FROM ledger WHERE org_id = ? ORDER BY id", (org_id,)).fetchall()
        return jsonify({"events": [dict(r) for r in rows]})

    @app.post("/api/billing/topups/checkout")
    def topup_checkout() -> Any:
        org_id = current_org()
        if not org_id:
            return _error(401, "unauthorized", "a bearer token is required")
        body = request.get_json(silent=True) or {}
        amount = body.get("amountCents")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 50 <= amount <= 1_000_000:
            return _error(400, "invalid_amount", "amountCents must be a whole number of cents between 50 and 1000000")
        base = app.config["PUBLIC_URL"] or request.host_url.rstrip("/")
        success = body.get("successUrl") or f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
        cancel = body.get("cancelUrl") or f"{base}/billing/cancel"
        metadata = {"orgId": org_id, "accountId": f"acct_{org_id}"}
        if stripe_client is None:
            # No Stripe configured: a placeholder session, enough for simulated webhooks.
            session_id, url, intent = "cs_test_" + secrets.token_hex(16), f"{base}/billing/no-stripe", None
        else:
            try:
                session = stripe_client.v1.checkout.sessions.create(params={
                    "mode": "payment",
                    "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount,
                                                                  "product_data": {"name": "Account top-up"}}}],
                    "metadata": metadata, "payment_intent_data": {"metadata": metadata},
                    "client_reference_id": org_id, "success_url": success, "cancel_url": cancel,
                })
            except stripe.StripeError as exc:
                return _error(502, "stripe_error", str(exc.user_message or exc))
            session_id, url, intent = session.id, session.url or "", getattr(session, "payment_intent", None)
        with db.connect() as conn:
            conn.execute("INSERT INTO checkouts VALUES (?, ?, ?, ?)", (session_id, org_id, amount, int(time.time())))
        return jsonify({"checkoutUrl": url, "stripeSessionId": session_id, "paymentIntentId": intent})

    @app.get("/billing/success")
    def success_page() -> Any:
        return "Thanks! Your top-up is being processed.", 200

    @app.get("/billing/cancel")
    def cancel_page() -> Any:
        return "Top-up cancelled.", 200

    # -- the webhook ------------------------------------------------------------------
    def verify(payload: bytes, header: str | None) -> dict[str, Any]:
        active = app.config["FAULTS"]
        if "no_signature_check" in active:
            return json.loads(payload)
        if not header:
            raise stripe.SignatureVerificationError("stripe_signature_missing", header, payload)
        if "crashes_on_bad_header" in active:
            # A naive parser that assumes every part is key=value and a timestamp exists.
            try:
                int(dict(p.split("=", 1) for p in header.split(","))["t"])
            except (ValueError, KeyError) as exc:
                raise _Crash(str(exc)) from exc
        if "any_signature" in active:
            if "t=" in header and "v1=" in header:
                return json.loads(payload)
            raise stripe.SignatureVerificationError("stripe_signature_invalid", header, payload)
        if "crashes_on_rotation" in active and header.count("v1=") > 1:
            raise _Crash("expected one v1 signature")
        if "first_v1_only" in active:
            first = next((p for p in header.split(",") if p.startswith("v1=")), None)
            header = ",".join(p for p in header.split(",") if not p.startswith("v1=") or p == first)
        if "compares_prefix" in active:
            return _hand_verified(payload, header, app.config["WEBHOOK_SECRET"], lambda good, given: good[:16] == given[:16])
        if "accepts_truncated" in active:
            return _hand_verified(payload, header, app.config["WEBHOOK_SECRET"], lambda good, given: good.startswith(given))
        if "accepts_v0" in active:
            header = header.replace("v0=", "v1=")
        if "reserialized_body" in active:
            payload = json.dumps(json.loads(payload), separators=(",", ":")).encode()
        tolerance = 10**10 if "no_timestamp_tolerance" in active else 600 if "loose_tolerance" in active else 300
        return construct_event(payload, header, app.config["WEBHOOK_SECRET"], tolerance)

    def credit(event: dict[str, Any], org_id: str, amount: int, session_id: str | None) -> str:
        active = app.config["FAULTS"]
        now = int(time.time())
        if "check_then_insert" in active:
            with db.connect() as conn:
                if conn.execute("SELECT 1 FROM stripe_events WHERE event_id = ?", (event["id"],)).fetchone():
                    return "duplicate"
            time.sleep(0.05)  # the gap a real handler has (a call to Stripe, a log line)
            with db.transaction() as conn:
                conn.execute("UPDATE accounts SET balance_cents = balance_cents + ?, updated = ? WHERE org_id = ?", (amount, now, org_id))
                _ledger(conn, org_id, amount, event["id"], session_id)
                conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], now))
            return "credited"
        if "lost_update" in active:
            # Dedupe and ledger are right; the balance is read, then written back as old + amount, unlocked.
            with db.transaction() as conn:
                if not conn.execute("SELECT 1 FROM accounts WHERE org_id = ?", (org_id,)).fetchone():
                    return "unknown_org"
                try:
                    conn.execute("INSERT INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], now))
                except sqlite3.IntegrityError:
                    return "duplicate"
                _ledger(conn, org_id, amount, event["id"], session_id)
            with db.connect() as conn:
                old = conn.execute("SELECT balance_cents FROM accounts WHERE org_id = ?", (org_id,)).fetchone()[0]
            time.sleep(0.005)  # the gap a real handler has between its read and its write (an ORM round trip)
            with db.connect() as conn:
                conn.execute("UPDATE accounts SET balance_cents = ?, updated = ? WHERE org_id = ?", (old + amount, now, org_id))
            return "credited"
        if "credits_wrong_account" in active:
            with db.connect() as conn:
                org_id = conn.execute("SELECT org_id FROM accounts ORDER BY rowid LIMIT 1").fetchone()[0]
        if "records_first" in active:
            with db.connect() as conn:  # its own transaction: the id stays recorded whatever happens next
                if conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)",
                                (event["id"], event["type"], now)).rowcount == 0:
                    return "duplicate"
        with db.transaction() as conn:
            if "no_dedupe" not in active and "records_first" not in active:
                try:
                    conn.execute("INSERT INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], now))
                except sqlite3.IntegrityError:
                    return "duplicate"
            account = conn.execute("SELECT hold FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
            if not account:
                return "unknown_org"
            if account[0]:
                # Rolled back with the transaction: the event id is not recorded, so Stripe's retry credits.
                raise _OnHold(org_id)
            conn.execute("UPDATE accounts SET balance_cents = balance_cents + ?, updated = ? WHERE org_id = ?", (amount, now, org_id))
            _ledger(conn, org_id, amount, event["id"], session_id)
        return "credited"

    def refund(event: dict[str, Any]) -> Any:
        """Take a refunded charge's amount back out of the balance, once per event."""
        obj = event["data"]["object"]
        org_id = (obj.get("metadata") or {}).get("orgId")
        amount = obj.get("amount_refunded")
        if "ignores_refunds" in app.config["FAULTS"] or not org_id or not isinstance(amount, int):
            return jsonify({"ok": True, "ignored": True})
        with db.transaction() as conn:
            try:
                conn.execute("INSERT INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], int(time.time())))
            except sqlite3.IntegrityError:
                return jsonify({"ok": True, "duplicate": True})
            conn.execute("UPDATE accounts SET balance_cents = balance_cents - ?, updated = ? WHERE org_id = ?",
                         (amount, int(time.time()), org_id))
            _ledger(conn, org_id, -amount, event["id"], None)
        return jsonify({"ok": True})

    def should_credit(event: dict[str, Any]) -> bool:
        active = app.config["FAULTS"]
        obj, kind = event["data"]["object"], event["type"]
        if kind == "checkout.session.async_payment_succeeded" and "ignores_async_success" in active:
            return False  # written for cards only: a delayed payment (a bank debit) is never credited
        if kind in CREDITING:
            return obj.get("payment_status") == "paid" or "credits_unpaid" in active
        if "credits_failed_payment" in active and kind in ("payment_intent.payment_failed", "checkout.session.async_payment_failed"):
            return True
        return bool("credits_every_success" in active and kind == "payment_intent.succeeded")

    @app.post("/api/webhooks/stripe")
    def webhook() -> Any:
        active = app.config["FAULTS"]
        payload = request.get_data(cache=False)
        if "acknowledges_everything" in active:
            return jsonify({"ok": True})
        if "crashes_on_non_event" in active and not _event_like(payload):
            return _error(500, "internal", "unexpected error")  # e.g. payload["data"]["object"] on a list or null
        try:
            event = verify(payload, request.headers.get("Stripe-Signature"))
        except stripe.SignatureVerificationError as exc:
            if "catch_all_200" in active:
                return jsonify({"ok": False, "error": "could not process the event"})
            code = "stripe_signature_missing" if not request.headers.get("Stripe-Signature") else "stripe_signature_invalid"
            return _error(400, "invalid", code if str(exc) != "stripe_signature_missing" else "stripe_signature_missing")
        except _Crash:
            return _error(500, "internal", "unexpected error")
        except ValueError as exc:
            if "error_on_bad_json" in active and not isinstance(exc, NotAnEvent):
                return _error(500, "internal", "unexpected error")
            return _error(400, "invalid", "stripe_payload_invalid")
        if not well_formed(event):
            return _error(400, "invalid", "stripe_payload_invalid")
        kind = event.get("type", "")
        if kind not in HANDLED:
            if "error_on_unknown" in active:
                return _error(500, "internal", f"unhandled event type {kind}")
            return jsonify({"ok": True, "ignored": True})
        if "slow_ack" in active and kind in CREDITING:
            time.sleep(slow_seconds)
        if kind == "charge.refunded":
            return refund(event)
        if not should_credit(event):
            return jsonify({"ok": True, "ignored": True})
        obj = event["data"]["object"]
        metadata = obj.get("metadata") or {}
        org_id = metadata.get("orgId")
        if active & {"crashes_on_unplaceable", "credits_latest_account"}:
            with db.connect() as conn:
                known = bool(org_id) and conn.execute("SELECT 1 FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
                newest = conn.execute("SELECT org_id FROM accounts ORDER BY rowid DESC LIMIT 1").fetchone()
            if not known and "crashes_on_unplaceable" in active:
                return _error(500, "internal", "unexpected error")  # Org.get(metadata["orgId"]) raised
            if not known and newest:
                org_id = newest[0]  # "the account that just checked out" — a fallback that pays a stranger's payment
        if not org_id or (obj.get("currency") or "usd") != "usd":
            return jsonify({"ok": True, "ignored": True})
        amount = obj.get("amount_total") if "amount_total" in obj else obj.get("amount")
        if not isinstance(amount, int):
            return _error(400, "invalid", "amount_missing")
        if "wrong_amount" in active:
            amount //= 100
        if "ack_without_credit" in active:
            return jsonify({"ok": True})
        if "records_before_processing" in active or "transient_failure" in active:
            with db.connect() as conn:
                first = conn.execute("INSERT OR IGNORE INTO first_attempts VALUES (?)", (event["id"],)).rowcount == 1
            if first and "records_before_processing" in active:
                with db.connect() as conn:
                    conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)", (event["id"], kind, int(time.time())))
                return _error(500, "internal", "processing failed")
            if first:
                return _error(500, "internal", "temporarily unavailable")
        try:
            outcome = credit(event, org_id, amount, obj.get("id") if obj.get("object") == "checkout.session" else None)
        except _OnHold:
            if "drops_on_hold" in active:
                return jsonify({"ok": True, "held": True})
            # Not now, but surely later: a 503 makes Stripe retry.
            response = _error(503, "unavailable", "account_on_hold")
            response[0].headers["Retry-After"] = "60"
            return response
        if outcome == "duplicate":
            return jsonify({"ok": True, "duplicate": True})
        return jsonify({"ok": True})

    return app


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the top-ups target on a free loopback port."""
    return serve_target(create_app(webhook_secret, faults=faults, **options), "topups", port)
