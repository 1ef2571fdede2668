"""Reference target "credits": uses bought with a PaymentIntent, re-checked with Stripe before crediting.

Contract (the credits style in docs/profiles.md): an ``X-API-Key`` service key; accounts keyed by
``(oauth_provider, external_id)``; 3 free uses, then $5 buys 20 uses. ``POST /v1/billing/accounts``,
``POST /v1/billing/credits/check``, ``POST /v1/billing/charges`` (uses one), ``POST /v1/billing/purchases``
→ ``{payment_id, client_secret, amount_minor, currency, uses_purchased, status}``,
``GET /v1/billing/accounts/{provider}/{external_id}``. Webhook ``POST /v1/billing/webhooks/stripe``:
``payment_intent.succeeded`` with metadata ``{account_id, oauth_provider, external_id}``; the target
re-retrieves the PaymentIntent from Stripe and credits only when it really succeeded; a bad signature → 401. When
that call fails (Stripe down, a timeout, a reset), it answers 503 and records nothing, so Stripe's retry credits.
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import time
from typing import Any

import stripe
from flask import Flask, jsonify, request

from smoke.reference._common import BadEvent, error, parse, serve_target, stripe_client, verify, well_formed
from smoke.reference._store import Database
from smoke.servers import RunningServer

SERVICE_KEY = "svc_test_reference_credits_key"
FREE_USES, PRICE_MINOR, USES_PER_PURCHASE, CURRENCY = 3, 500, 20, "usd"

FAULTS = {
    "trusts_event": "credits from the event alone, without re-retrieving the PaymentIntent from Stripe",
    "no_signature_check": "credits without checking the Stripe-Signature header",
    "no_dedupe": "credits every delivery of the same payment",
    "wrong_uses": "credits 2 uses per purchase instead of 20",
    "acks_on_stripe_error": "answers 200 when the call to Stripe fails, crediting nothing (Stripe never retries a 2xx)",
    "records_before_processing": "records the event id, then the call to Stripe fails (500); Stripe's retry is "
                                 "acknowledged as a duplicate and nothing is credited",
}
# Seconds the target waits for Stripe before it gives up (the SDK's own default is 80).
STRIPE_TIMEOUT_SECONDS = 5.0


class _StripeDown(Exception):
    """The call to Stripe failed (an error, a timeout, a reset): nothing is known about the payment yet."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, provider TEXT, external_id TEXT, free_used INTEGER DEFAULT 0,
    purchased INTEGER DEFAULT 0, used INTEGER DEFAULT 0, created INTEGER, UNIQUE (provider, external_id));
CREATE TABLE IF NOT EXISTS purchases (payment_id TEXT PRIMARY KEY, account_id TEXT, amount INTEGER, uses INTEGER,
    status TEXT, created INTEGER, credited_event TEXT);
CREATE TABLE IF NOT EXISTS stripe_events (event_id TEXT PRIMARY KEY, type TEXT, received INTEGER);
"""


def _account_json(row: sqlite3.Row) -> dict[str, Any]:
    free = max(0, FREE_USES - row["free_used"])
    paid = row["purchased"] - row["used"]
    return {"account_id": row["id"], "oauth_provider": row["provider"], "external_id": row["external_id"],
            "free_uses_remaining": free, "credits_remaining": paid, "has_credit": free + paid > 0,
            "purchased_uses_total": row["purchased"]}


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    api_key: str = SERVICE_KEY,
    stripe_api_key: str | None = None,
    stripe_api_base: str | None = None,
    stripe_timeout: float = STRIPE_TIMEOUT_SECONDS,
    public_url: str = "",
) -> Flask:
    """The credits billing API as a Flask app; without a Stripe key purchases cannot start (and nothing credits)."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
    app = Flask("smoke-credits")
    db = Database(SCHEMA)
    client = stripe_client(stripe_api_key, stripe_api_base, timeout=stripe_timeout)
    app.config.update(FAULTS=frozenset(faults), WEBHOOK_SECRET=webhook_secret, PUBLIC_URL=public_url)

    def authorised() -> bool:
        return hmac.compare_digest(request.headers.get("X-API-Key", ""), api_key)

    def identity() -> tuple[str, str]:
        body = request.get_json(silent=True) or {}
        return str(body.get("oauth_provider", "")).strip(), str(body.get("external_id", "")).strip()

    def find(conn: sqlite3.Connection, provider: str, external_id: str) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM accounts WHERE provider = ? AND external_id = ?",
                            (provider, external_id)).fetchone()

    @app.before_request
    def require_key() -> Any:
        if request.path.startswith("/v1/billing/") and request.path != "/v1/billing/webhooks/stripe" and not authorised():
            return error(401, "unauthorized", "a valid X-API-Key is required")
        return None

    @app.get("/health")
    def health() -> Any:
        return jsonify({"ok": True})

    @app.post("/v1/billing/accounts")
    def create_account() -> Any:
        provider, external_id = identity()
        if not provider or not external_id:
            return error(400, "invalid_request", "oauth_provider and external_id are required")
        with db.transaction() as conn:
            row = find(conn, provider, external_id)
            if row is not None:
                return jsonify(_account_json(row)), 200
            conn.execute("INSERT INTO accounts (id, provider, external_id, created) VALUES (?, ?, ?, ?)",
                         ("bacct_" + secrets.token_hex(8), provider, external_id, int(time.time())))
            row = find(conn, provider, external_id)
        return jsonify(_account_json(row)), 201  # type: ignore[arg-type]

    @app.get("/v1/billing/accounts/<provider>/<external_id>")
    def get_account(provider: str, external_id: str) -> Any:
        with db.connect() as conn:
            row = find(conn, provider, external_id)
        return (jsonify(_account_json(row)), 200) if row is not None else error(404, "account_not_found")

    @app.post("/v1/billing/credits/check")
    def check() -> Any:
        with db.connect() as conn:
            row = find(conn, *identity())
        if row is None:
            return error(404, "account_not_found")
        account = _account_json(row)
        return jsonify({**account, "purchase_required": not account["has_credit"], "purchase_price_minor": PRICE_MINOR,
                        "purchase_currency": CURRENCY, "purchase_uses": USES_PER_PURCHASE})

    @app.post("/v1/billing/charges")
    def charge() -> Any:
        with db.transaction() as conn:
            row = find(conn, *identity())
            if row is None:
                return error(404, "account_not_found")
            if row["free_used"] < FREE_USES:
                conn.execute("UPDATE accounts SET free_used = free_used + 1 WHERE id = ?", (row["id"],))
            elif row["purchased"] > row["used"]:
                conn.execute("UPDATE accounts SET used = used + 1 WHERE id = ?", (row["id"],))
            else:
                return error(402, "purchase_required", f"buy {USES_PER_PURCHASE} uses for {PRICE_MINOR} {CURRENCY}")
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (row["id"],)).fetchone()
        return jsonify(_account_json(row))

    @app.post("/v1/billing/purchases")
    def purchase() -> Any:
        if client is None:
            return error(503, "stripe_unavailable", "no Stripe key configured")
        with db.connect() as conn:
            row = find(conn, *identity())
        if row is None:
            return error(404, "account_not_found")
        try:
            intent = client.v1.payment_intents.create(params={  # type: ignore[typeddict-unknown-key]
                "amount": PRICE_MINOR, "currency": CURRENCY, "payment_method_types": ["card"],
                "description": f"{USES_PER_PURCHASE} uses",
                "metadata": {"account_id": row["id"], "oauth_provider": row["provider"], "external_id": row["external_id"]},
            }, options={"idempotency_key": "purchase-" + secrets.token_hex(8)})
        except stripe.StripeError as exc:
            return error(502, "stripe_error", str(exc.user_message or exc.code or "Stripe refused the PaymentIntent"))
        with db.transaction() as conn:
            conn.execute("INSERT INTO purchases VALUES (?, ?, ?, ?, 'pending', ?, NULL)",
                         (intent.id, row["id"], PRICE_MINOR, USES_PER_PURCHASE, int(time.time())))
        return jsonify({"payment_id": intent.id, "client_secret": intent.client_secret, "amount_minor": PRICE_MINOR,
                        "currency": CURRENCY, "uses_purchased": USES_PER_PURCHASE, "status": intent.status}), 201

    def really_succeeded(payment_id: str, metadata: dict[str, Any]) -> bool:
        """Ask Stripe, not the event: is this intent ours, succeeded, and for the full price?"""
        if "trusts_event" in app.config["FAULTS"]:
            return True
        if client is None:
            return False
        try:
            intent = client.v1.payment_intents.retrieve(payment_id).to_dict()
        except stripe.InvalidRequestError:
            return False  # Stripe answered: no such intent (or not this account's)
        except stripe.StripeError as exc:
            raise _StripeDown(type(exc).__name__) from None
        return (intent.get("status") == "succeeded" and intent.get("amount_received") == PRICE_MINOR
                and intent.get("currency") == CURRENCY
                and (intent.get("metadata") or {}).get("account_id") == metadata.get("account_id"))

    @app.post("/v1/billing/webhooks/stripe")
    def webhook() -> Any:
        payload = request.get_data(cache=False)
        try:
            if "no_signature_check" in app.config["FAULTS"]:
                event = parse(payload)
            else:
                event = verify(payload, request.headers.get("Stripe-Signature"), app.config["WEBHOOK_SECRET"])
        except BadEvent as exc:
            return error(401 if exc.reason.startswith("stripe_signature") else 400, exc.reason)
        if not well_formed(event):
            return error(400, "payload_invalid")
        if event["type"] != "payment_intent.succeeded":
            return jsonify({"received": True, "ignored": event["type"]})
        intent = event["data"]["object"]
        metadata = intent.get("metadata") or {}
        payment_id = str(intent.get("id", ""))
        if "records_before_processing" in app.config["FAULTS"]:
            with db.connect() as conn:  # its own transaction: the id stays recorded whatever happens next
                if conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)",
                                (event["id"], event["type"], int(time.time()))).rowcount == 0:
                    return jsonify({"received": True, "duplicate": True})
        try:
            succeeded = really_succeeded(payment_id, metadata)
        except _StripeDown as exc:
            if "acks_on_stripe_error" in app.config["FAULTS"]:
                return jsonify({"received": True, "credited": False})
            if "records_before_processing" in app.config["FAULTS"]:
                return error(500, "internal_error", f"Stripe call failed ({exc})")
            # Nothing recorded: Stripe retries a 5xx, and the retry credits once Stripe answers again.
            return error(503, "stripe_unavailable", f"could not confirm the payment with Stripe ({exc}); retry later")
        if not succeeded:
            return jsonify({"received": True, "credited": False})
        uses = 2 if "wrong_uses" in app.config["FAULTS"] else USES_PER_PURCHASE
        with db.transaction() as conn:
            if "no_dedupe" not in app.config["FAULTS"] and "records_before_processing" not in app.config["FAULTS"]:
                try:
                    conn.execute("INSERT INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], int(time.time())))
                except sqlite3.IntegrityError:
                    return jsonify({"received": True, "duplicate": True})
                done = conn.execute("UPDATE purchases SET status = 'credited', credited_event = ? "
                                    "WHERE payment_id = ? AND status != 'credited'", (event["id"], payment_id)).rowcount
                if not done and conn.execute("SELECT 1 FROM purchases WHERE payment_id = ?", (payment_id,)).fetchone():
                    return jsonify({"received": True, "duplicate": True})  # the same payment, another event id
            conn.execute("UPDATE accounts SET purchased = purchased + ? WHERE id = ?", (uses, metadata.get("account_id")))
        return jsonify({"received": True, "credited": True})

    return app


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the credits target on a free loopback port."""
    return serve_target(create_app(webhook_secret, faults=faults, **options), "credits", port)
