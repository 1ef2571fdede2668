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
from dataclasses import dataclass
from typing import Any

import stripe
from flask import Blueprint, Flask, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import BadEvent, error
from smoke.reference.faults import faults_of
from smoke.servers import RunningServer

SERVICE_KEY = "svc_test_reference_credits_key"
FREE_USES, PRICE_MINOR, USES_PER_PURCHASE, CURRENCY = 3, 500, 20, "usd"

FAULTS = faults_of("credits")

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


routes = Blueprint("credits", __name__)


@dataclass(frozen=True)
class _Settings:
    """The service key callers of ``/v1/billing/`` must present."""

    api_key: str


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
    return base.open_app("credits", routes, webhook_secret, faults, known=FAULTS, schema=SCHEMA, public_url=public_url,
                    stripe_api_key=stripe_api_key, stripe_api_base=stripe_api_base, stripe_timeout=stripe_timeout,
                    settings=_Settings(api_key))


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the credits target on a free loopback port."""
    return base.serve_target(create_app(webhook_secret, faults=faults, **options), "credits", port)


def _identity() -> tuple[str, str]:
    body = request.get_json(silent=True) or {}
    return str(body.get("oauth_provider", "")).strip(), str(body.get("external_id", "")).strip()


def _find(conn: sqlite3.Connection, provider: str, external_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM accounts WHERE provider = ? AND external_id = ?",
                        (provider, external_id)).fetchone()


@routes.before_app_request
def require_key() -> Any:
    """Every ``/v1/billing/`` route but the webhook needs the service key."""
    if request.path.startswith("/v1/billing/") and request.path != "/v1/billing/webhooks/stripe" \
            and not hmac.compare_digest(request.headers.get("X-API-Key", ""), base.settings(_Settings).api_key):
        return error(401, "unauthorized", "a valid X-API-Key is required")
    return None


@routes.get("/health")
def health() -> Any:
    """Up."""
    return jsonify({"ok": True})


@routes.post("/v1/billing/accounts")
def create_account() -> Any:
    """Create the account of ``(oauth_provider, external_id)``, or return the existing one."""
    provider, external_id = _identity()
    if not provider or not external_id:
        return error(400, "invalid_request", "oauth_provider and external_id are required")
    with base.db().transaction() as conn:
        row = _find(conn, provider, external_id)
        if row is not None:
            return jsonify(_account_json(row)), 200
        conn.execute("INSERT INTO accounts (id, provider, external_id, created) VALUES (?, ?, ?, ?)",
                     ("bacct_" + secrets.token_hex(8), provider, external_id, int(time.time())))
        row = _find(conn, provider, external_id)
    return jsonify(_account_json(row)), 201  # type: ignore[arg-type]


@routes.get("/v1/billing/accounts/<provider>/<external_id>")
def get_account(provider: str, external_id: str) -> Any:
    """One account's uses."""
    with base.db().connect() as conn:
        row = _find(conn, provider, external_id)
    return (jsonify(_account_json(row)), 200) if row is not None else error(404, "account_not_found")


@routes.post("/v1/billing/credits/check")
def check() -> Any:
    """Whether the account has a use left, and what buying more costs."""
    with base.db().connect() as conn:
        row = _find(conn, *_identity())
    if row is None:
        return error(404, "account_not_found")
    account = _account_json(row)
    return jsonify({**account, "purchase_required": not account["has_credit"], "purchase_price_minor": PRICE_MINOR,
                    "purchase_currency": CURRENCY, "purchase_uses": USES_PER_PURCHASE})


@routes.post("/v1/billing/charges")
def charge() -> Any:
    """Use one: a free one first, then a bought one; 402 when none is left."""
    with base.db().transaction() as conn:
        row = _find(conn, *_identity())
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


@routes.post("/v1/billing/purchases")
def purchase() -> Any:
    """Start a purchase: a PaymentIntent the buyer confirms."""
    client = base.stripe_api()
    if client is None:
        return error(503, "stripe_unavailable", "no Stripe key configured")
    with base.db().connect() as conn:
        row = _find(conn, *_identity())
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
    with base.db().transaction() as conn:
        conn.execute("INSERT INTO purchases VALUES (?, ?, ?, ?, 'pending', ?, NULL)",
                     (intent.id, row["id"], PRICE_MINOR, USES_PER_PURCHASE, int(time.time())))
    return jsonify({"payment_id": intent.id, "client_secret": intent.client_secret, "amount_minor": PRICE_MINOR,
                    "currency": CURRENCY, "uses_purchased": USES_PER_PURCHASE, "status": intent.status}), 201


# -- the webhook ------------------------------------------------------------------
def _really_succeeded(payment_id: str, metadata: dict[str, Any]) -> bool:
    """Ask Stripe, not the event: is this intent ours, succeeded, and for the full price?"""
    if "trusts_event" in base.faults():
        return True
    client = base.stripe_api()
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


def _credit(event: dict[str, Any], payment_id: str, account_id: Any) -> str:
    """Add the purchase's uses: once per event and once per payment unless a fault drops the guard."""
    guarded = not base.faults() & {"no_dedupe", "records_before_processing"}
    uses = 2 if "wrong_uses" in base.faults() else USES_PER_PURCHASE

    def apply(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
        if guarded:
            done = conn.execute("UPDATE purchases SET status = 'credited', credited_event = ? "
                                "WHERE payment_id = ? AND status != 'credited'", (event["id"], payment_id)).rowcount
            if not done and conn.execute("SELECT 1 FROM purchases WHERE payment_id = ?", (payment_id,)).fetchone():
                return "duplicate"  # the same payment, another event id
        conn.execute("UPDATE accounts SET purchased = purchased + ? WHERE id = ?", (uses, account_id))
        return "credited"

    return base.handle_once(event, apply, dedupe=guarded)


@routes.post("/v1/billing/webhooks/stripe")
def webhook() -> Any:
    """Credit a purchase once Stripe itself confirms the PaymentIntent succeeded."""
    active = base.faults()
    try:
        event = base.signed_event(check_signature="no_signature_check" not in active)
    except BadEvent as exc:
        return error(401 if exc.reason.startswith("stripe_signature") else 400, exc.reason)
    if event["type"] != "payment_intent.succeeded":
        return jsonify({"received": True, "ignored": event["type"]})
    intent = event["data"]["object"]
    metadata = intent.get("metadata") or {}
    payment_id = str(intent.get("id", ""))
    if "records_before_processing" in active:
        with base.db().connect() as conn:  # its own transaction: the id stays recorded whatever happens next
            if conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)",
                            (event["id"], event["type"], int(time.time()))).rowcount == 0:
                return jsonify({"received": True, "duplicate": True})
    try:
        succeeded = _really_succeeded(payment_id, metadata)
    except _StripeDown as exc:
        if "acks_on_stripe_error" in active:
            return jsonify({"received": True, "credited": False})
        if "records_before_processing" in active:
            return error(500, "internal_error", f"Stripe call failed ({exc})")
        # Nothing recorded: Stripe retries a 5xx, and the retry credits once Stripe answers again.
        return error(503, "stripe_unavailable", f"could not confirm the payment with Stripe ({exc}); retry later")
    if not succeeded:
        return jsonify({"received": True, "credited": False})
    try:
        outcome = _credit(event, payment_id, metadata.get("account_id"))
    except base.Duplicate:
        outcome = "duplicate"
    if outcome == "duplicate":
        return jsonify({"received": True, "duplicate": True})
    return jsonify({"received": True, "credited": True})
