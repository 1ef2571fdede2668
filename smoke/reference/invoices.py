"""Reference target "invoices": a business issues invoices per workspace; buyers pay them through Checkout.

Contract (the invoices style in docs/profiles.md): an ``X-API-Key`` service key; invoices created by the
business (``POST /api/v1/billing/invoices?workspace_id=``); a rollout gate that answers 404 for workspaces
not in the rollout; ``POST /api/v1/billing/invoices/{id}/checkout?workspace_id=`` → ``{sessionId,
checkoutUrl, expiresAt}``; ``GET /api/v1/billing/invoices?workspace_id=`` → ``invoices[].status``
(``open`` → ``paid``) and ``balance_due``; and ``POST /api/v1/billing/webhooks/stripe`` → 202, acting on
``payment_intent.succeeded`` in the older API shape (the charge in ``charges.data[0]``),
``payment_intent.payment_failed`` (records the error) and ``charge.refunded`` (an adjustment).
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import stripe
from flask import Blueprint, Flask, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import BadEvent, error
from smoke.reference.faults import faults_of, quirks_of
from smoke.servers import RunningServer

SERVICE_KEY = "svc_test_reference_invoices_key"

FAULTS = faults_of("invoices")

# Not bugs, but behaviour a correct target may show: the checks must stay green.
QUIRKS = quirks_of("invoices")

SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (id TEXT PRIMARY KEY, workspace_id TEXT, status TEXT, currency TEXT,
    amount_due INTEGER, amount_paid INTEGER DEFAULT 0, amount_refunded INTEGER DEFAULT 0, description TEXT,
    charge_id TEXT, last_payment_error TEXT, created INTEGER, paid_at INTEGER);
CREATE TABLE IF NOT EXISTS adjustments (id INTEGER PRIMARY KEY AUTOINCREMENT, invoice_id TEXT, kind TEXT,
    amount INTEGER, stripe_event_id TEXT, created INTEGER);
CREATE TABLE IF NOT EXISTS stripe_events (event_id TEXT PRIMARY KEY, type TEXT, received INTEGER);
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, invoice_id TEXT, expires_at INTEGER);
"""


def _invoice_json(row: sqlite3.Row, adjustments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": row["id"], "object": "invoice", "workspace_id": row["workspace_id"], "status": row["status"],
            "currency": row["currency"], "amount_due": row["amount_due"], "amount_paid": row["amount_paid"],
            "amount_refunded": row["amount_refunded"], "balance_due": max(0, row["amount_due"] - row["amount_paid"]),
            "description": row["description"], "charge_id": row["charge_id"],
            "last_payment_error": row["last_payment_error"], "created": row["created"], "paid_at": row["paid_at"],
            "adjustments": adjustments}


routes = Blueprint("invoices", __name__)


@dataclass(frozen=True)
class _Settings:
    """The service key, and the workspaces the API is rolled out to (None: all)."""

    api_key: str
    rollout: frozenset[str] | None


def create_app(
    webhook_secret: str,
    *,
    faults: frozenset[str] | set[str] = frozenset(),
    api_key: str = SERVICE_KEY,
    rollout: Collection[str] | None = None,
    stripe_api_key: str | None = None,
    stripe_api_base: str | None = None,
    public_url: str = "",
) -> Flask:
    """The invoices billing API as a Flask app (``rollout``: the only workspaces that see it; None: all)."""
    return base.open_app("invoices", routes, webhook_secret, faults, known={*FAULTS, *QUIRKS}, schema=SCHEMA,
                    public_url=public_url, stripe_api_key=stripe_api_key, stripe_api_base=stripe_api_base,
                    settings=_Settings(api_key, None if rollout is None else frozenset(rollout)))


def start(
    webhook_secret: str,
    *,
    port: int = 0,
    faults: frozenset[str] | set[str] = frozenset(),
    **options: Any,
) -> RunningServer:
    """Serve the invoices target on a free loopback port."""
    return base.serve_target(create_app(webhook_secret, faults=faults, **options), "invoices", port)


def _gate() -> tuple[str | None, Any]:
    """(workspace, None) when the caller may use the API for it; (None, an error answer) otherwise."""
    options = base.settings(_Settings)
    if not hmac.compare_digest(request.headers.get("X-API-Key", ""), options.api_key):
        return None, error(401, "unauthorized", "a valid X-API-Key is required")
    workspace = request.args.get("workspace_id", "")
    if not workspace:
        return None, error(400, "workspace_required", "workspace_id is required")
    if options.rollout is not None and workspace not in options.rollout:
        return None, error(404, "not_found", "not found")  # the rollout gate hides the API entirely
    return workspace, None


def _load(conn: sqlite3.Connection, workspace: str, invoice_id: str | None = None) -> list[dict[str, Any]]:
    query, args = "SELECT * FROM invoices WHERE workspace_id = ?", [workspace]
    if invoice_id is not None:
        query, args = query + " AND id = ?", [*args, invoice_id]
    rows = conn.execute(query + " ORDER BY created, id", args).fetchall()
    result = []
    for row in rows:
        adjustments = [dict(a) for a in conn.execute(
            "SELECT kind, amount, stripe_event_id, created FROM adjustments WHERE invoice_id = ? ORDER BY id", (row["id"],))]
        result.append(_invoice_json(row, adjustments))
    return result


@routes.get("/health")
def health() -> Any:
    """Up."""
    return jsonify({"ok": True, "service": "invoices"})


@routes.post("/api/v1/billing/invoices")
def create_invoice() -> Any:
    """Issue an open invoice in the workspace."""
    workspace, denied = _gate()
    if denied:
        return denied
    body = request.get_json(silent=True) or {}
    amount = body.get("amount_due")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 50:
        return error(400, "invalid_amount", "amount_due must be a whole number of cents, at least 50")
    invoice_id = "inv_" + secrets.token_hex(10)
    with base.db().transaction() as conn:
        conn.execute("INSERT INTO invoices (id, workspace_id, status, currency, amount_due, description, created) "
                     "VALUES (?, ?, 'open', ?, ?, ?, ?)", (invoice_id, workspace, str(body.get("currency", "usd")),
                                                            amount, str(body.get("description", "")), int(time.time())))
        created = _load(conn, str(workspace), invoice_id)[0]
    return jsonify(created), 201


@routes.get("/api/v1/billing/invoices")
def list_invoices() -> Any:
    """The workspace's invoices, with their adjustments."""
    workspace, denied = _gate()
    if denied:
        return denied
    with base.db().connect() as conn:
        invoices = _load(conn, str(workspace))
    return jsonify({"workspace_id": workspace, "invoices": invoices})


@routes.post("/api/v1/billing/invoices/<invoice_id>/checkout")
def checkout(invoice_id: str) -> Any:
    """A Checkout Session paying an open invoice's balance."""
    workspace, denied = _gate()
    if denied:
        return denied
    with base.db().connect() as conn:
        found = _load(conn, str(workspace), invoice_id)
    if not found:
        return error(404, "invoice_not_found", "no such invoice in this workspace")
    invoice = found[0]
    if invoice["status"] != "open":
        return error(409, "invoice_not_open", f"the invoice is {invoice['status']}")
    home, client = base.public_base(), base.stripe_api()
    metadata = {"invoice_id": invoice_id, "workspace_id": workspace}
    expires_at = int(time.time()) + 3600
    if client is None:
        session_id, url = "cs_test_" + secrets.token_hex(16), f"{home}/billing/no-stripe"
    else:
        try:
            session = client.v1.checkout.sessions.create(params={  # type: ignore[arg-type]
                "mode": "payment", "expires_at": expires_at, "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "line_items": [{"quantity": 1, "price_data": {
                    "currency": invoice["currency"], "unit_amount": invoice["balance_due"],
                    "product_data": {"name": f"Invoice {invoice_id}"}}}],
                "success_url": f"{home}/billing/paid", "cancel_url": f"{home}/billing/cancelled",
            })
        except stripe.StripeError as exc:
            return error(502, "stripe_error", str(exc.user_message or exc))
        session_id, url = session.id, session.url or ""
    with base.db().connect() as conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?)", (session_id, invoice_id, expires_at))
    return jsonify({"sessionId": session_id, "checkoutUrl": url, "expiresAt": expires_at})


@routes.get("/billing/paid")
def paid_page() -> Any:
    """Where Checkout sends the buyer after paying."""
    return "Thank you: the invoice is being settled.", 200


@routes.get("/billing/cancelled")
def cancelled_page() -> Any:
    """Where Checkout sends a buyer who cancels."""
    return "Payment cancelled.", 200


# -- the webhook ------------------------------------------------------------------
def _invoice_of(conn: sqlite3.Connection, obj: dict[str, Any]) -> sqlite3.Row | None:
    metadata = obj.get("metadata") or {}
    return conn.execute("SELECT * FROM invoices WHERE id = ? AND workspace_id = ?",
                        (metadata.get("invoice_id"), metadata.get("workspace_id"))).fetchone()


def _the_charge(intent: dict[str, Any]) -> dict[str, Any] | None:
    if "reads_latest_charge" in base.faults():
        latest = intent.get("latest_charge")
        return latest if isinstance(latest, dict) else None
    charges = (intent.get("charges") or {}).get("data") or []
    return charges[0] if charges and isinstance(charges[0], dict) else None


def _succeeded(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    intent = event["data"]["object"]
    invoice = _invoice_of(conn, intent)
    charge = _the_charge(intent)
    if invoice is None or intent.get("status") != "succeeded" or charge is None or not charge.get("paid"):
        return "ignored"
    if (intent.get("currency") or "") != invoice["currency"]:
        return "ignored"
    amount = intent.get("amount_received")
    if not isinstance(amount, int) or amount <= 0:
        return "ignored"
    paid = invoice["amount_paid"] + amount
    status = "paid" if paid >= invoice["amount_due"] else invoice["status"]
    conn.execute("UPDATE invoices SET amount_paid = ?, status = ?, charge_id = ?, paid_at = ?, last_payment_error = NULL "
                 "WHERE id = ?", (paid, status, charge.get("id"), int(time.time()), invoice["id"]))
    return "applied"


def _failed(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    intent = event["data"]["object"]
    invoice = _invoice_of(conn, intent)
    if invoice is None:
        return "ignored"
    if "paid_on_failure" in base.faults():
        conn.execute("UPDATE invoices SET status = 'paid', amount_paid = amount_due WHERE id = ?", (invoice["id"],))
        return "applied"
    message = (intent.get("last_payment_error") or {}).get("message") or "payment failed"
    conn.execute("UPDATE invoices SET last_payment_error = ? WHERE id = ?", (message, invoice["id"]))
    if "fails_invoice" in base.faults() and invoice["status"] == "open":
        conn.execute("UPDATE invoices SET status = 'failed' WHERE id = ?", (invoice["id"],))
    return "recorded"


def _refunded(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
    charge = event["data"]["object"]
    invoice = _invoice_of(conn, charge)
    amount = charge.get("amount_refunded")
    if invoice is None or not isinstance(amount, int):
        return "ignored"
    # amount_refunded is cumulative on the charge: adjust by what is new.
    new = max(0, amount - invoice["amount_refunded"])
    if new:
        conn.execute("UPDATE invoices SET amount_refunded = ? WHERE id = ?", (amount, invoice["id"]))
        conn.execute("INSERT INTO adjustments (invoice_id, kind, amount, stripe_event_id, created) VALUES (?, 'refund', ?, ?, ?)",
                     (invoice["id"], -new, event["id"], int(time.time())))
    return "adjusted"


HANDLERS = {"payment_intent.succeeded": _succeeded, "payment_intent.payment_failed": _failed, "charge.refunded": _refunded}


@routes.post("/api/v1/billing/webhooks/stripe")
def webhook() -> Any:
    """Settle invoices from payment events, each once, answering 202."""
    try:
        event = base.signed_event()
    except BadEvent as exc:
        return error(400, exc.reason)
    handler = HANDLERS.get(event["type"])
    if handler is None:
        if "error_on_unknown" in base.faults():
            return error(500, "internal", f"no handler for {event['type']}")
        return jsonify({"status": "ignored"}), 202
    try:
        outcome = base.handle_once(event, handler)
    except base.Duplicate:
        if "crashes_on_duplicate" in base.faults():
            return error(500, "internal", "unexpected error")  # the unique-key error, unhandled
        return jsonify({"status": "duplicate"}), 202
    except sqlite3.IntegrityError:
        return error(500, "internal", "unexpected error")
    return jsonify({"status": outcome}), 202
