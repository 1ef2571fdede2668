"""The top-ups target's webhook: verify, dedupe, credit or refund, with every deliberate bug of its faulty variants.

``receive`` is the view's body; which bugs are on is ``_base.faults()`` of the app serving the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from typing import Any

import stripe
from flask import Response, current_app, jsonify, request

from smoke.reference import _base as base
from smoke.reference._common import NotAnEvent, construct_event, error, well_formed

CREDITING = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
HANDLED = CREDITING | {"checkout.session.expired", "checkout.session.async_payment_failed",
                       "payment_intent.succeeded", "payment_intent.payment_failed", "charge.succeeded",
                       "charge.updated", "charge.refunded", "payment_intent.created", "customer.created"}


class _Crash(Exception):
    """An unexpected error in a faulty variant: answered with a 500."""


class _OnHold(Exception):
    """The account is on hold: a payment can't be applied now, but can later."""


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


def _verify(payload: bytes, header: str | None) -> dict[str, Any]:
    """The event, verified as the variant verifies it (Stripe's way unless a signature fault is on)."""
    active = base.faults()
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
        return _hand_verified(payload, header, base.secret(), lambda good, given: good[:16] == given[:16])
    if "accepts_truncated" in active:
        return _hand_verified(payload, header, base.secret(), lambda good, given: good.startswith(given))
    if "accepts_v0" in active:
        header = header.replace("v0=", "v1=")
    if "reserialized_body" in active:
        payload = json.dumps(json.loads(payload), separators=(",", ":")).encode()
    tolerance = 10**10 if "no_timestamp_tolerance" in active else 600 if "loose_tolerance" in active else 300
    return construct_event(payload, header, base.secret(), tolerance)


def _credit_check_then_insert(event: dict[str, Any], org_id: str, amount: int, session_id: str | None) -> str:
    """The racy variant: look for a duplicate, pause, then credit and record."""
    now = int(time.time())
    with base.db().connect() as conn:
        if conn.execute("SELECT 1 FROM stripe_events WHERE event_id = ?", (event["id"],)).fetchone():
            return "duplicate"
    time.sleep(0.05)  # the gap a real handler has (a call to Stripe, a log line)
    with base.db().transaction() as conn:
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ?, updated = ? WHERE org_id = ?", (amount, now, org_id))
        _ledger(conn, org_id, amount, event["id"], session_id)
        conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], now))
    return "credited"


def _credit_lost_update(event: dict[str, Any], org_id: str, amount: int, session_id: str | None) -> str:
    """Dedupe and ledger are right; the balance is read, then written back as old + amount, unlocked."""
    now = int(time.time())
    with base.db().transaction() as conn:
        if not conn.execute("SELECT 1 FROM accounts WHERE org_id = ?", (org_id,)).fetchone():
            return "unknown_org"
        try:
            base.record_event(conn, event)
        except base.Duplicate:
            return "duplicate"
        _ledger(conn, org_id, amount, event["id"], session_id)
    with base.db().connect() as conn:
        old = conn.execute("SELECT balance_cents FROM accounts WHERE org_id = ?", (org_id,)).fetchone()[0]
    time.sleep(0.005)  # the gap a real handler has between its read and its write (an ORM round trip)
    with base.db().connect() as conn:
        conn.execute("UPDATE accounts SET balance_cents = ?, updated = ? WHERE org_id = ?", (old + amount, now, org_id))
    return "credited"


def _credit(event: dict[str, Any], org_id: str, amount: int, session_id: str | None) -> str:
    """Credit ``amount`` to ``org_id`` once per event: "credited", "duplicate" or "unknown_org"; raises _OnHold."""
    active = base.faults()
    if "check_then_insert" in active:
        return _credit_check_then_insert(event, org_id, amount, session_id)
    if "lost_update" in active:
        return _credit_lost_update(event, org_id, amount, session_id)
    if "credits_wrong_account" in active:
        with base.db().connect() as conn:
            org_id = conn.execute("SELECT org_id FROM accounts ORDER BY rowid LIMIT 1").fetchone()[0]
    if "records_first" in active:
        with base.db().connect() as conn:  # its own transaction: the id stays recorded whatever happens next
            if conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)",
                            (event["id"], event["type"], int(time.time()))).rowcount == 0:
                return "duplicate"

    def apply(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
        account = conn.execute("SELECT hold FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
        if not account:
            return "unknown_org"
        if account[0]:
            # Rolled back with the transaction: the event id is not recorded, so Stripe's retry credits.
            raise _OnHold(org_id)
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ?, updated = ? WHERE org_id = ?",
                     (amount, int(time.time()), org_id))
        _ledger(conn, org_id, amount, event["id"], session_id)
        return "credited"

    try:
        return base.handle_once(event, apply, dedupe="no_dedupe" not in active and "records_first" not in active)
    except base.Duplicate:
        return "duplicate"


def _refund(event: dict[str, Any]) -> Any:
    """Take a refunded charge's amount back out of the balance, once per event."""
    obj = event["data"]["object"]
    org_id = (obj.get("metadata") or {}).get("orgId")
    amount = obj.get("amount_refunded")
    if "ignores_refunds" in base.faults() or not org_id or not isinstance(amount, int):
        return jsonify({"ok": True, "ignored": True})

    def apply(conn: sqlite3.Connection, event: dict[str, Any]) -> str:
        conn.execute("UPDATE accounts SET balance_cents = balance_cents - ?, updated = ? WHERE org_id = ?",
                     (amount, int(time.time()), org_id))
        _ledger(conn, org_id, -amount, event["id"], None)
        return "refunded"

    try:
        base.handle_once(event, apply)
    except base.Duplicate:
        return jsonify({"ok": True, "duplicate": True})
    return jsonify({"ok": True})


def _should_credit(event: dict[str, Any]) -> bool:
    """Whether the event is a paid credit (or one a fault credits anyway)."""
    active = base.faults()
    obj, kind = event["data"]["object"], event["type"]
    if kind == "checkout.session.async_payment_succeeded" and "ignores_async_success" in active:
        return False  # written for cards only: a delayed payment (a bank debit) is never credited
    if kind in CREDITING:
        return obj.get("payment_status") == "paid" or "credits_unpaid" in active
    if "credits_failed_payment" in active and kind in ("payment_intent.payment_failed", "checkout.session.async_payment_failed"):
        return True
    return bool("credits_every_success" in active and kind == "payment_intent.succeeded")


def _verified_event() -> dict[str, Any] | tuple[Response, int]:
    """This request's event, or the answer the variant gives to a delivery it refuses (or crashes on)."""
    active = base.faults()
    payload = request.get_data(cache=False)
    if "crashes_on_non_event" in active and not _event_like(payload):
        return error(500, "internal", "unexpected error")  # e.g. payload["data"]["object"] on a list or null
    try:
        event = _verify(payload, request.headers.get("Stripe-Signature"))
    except stripe.SignatureVerificationError as exc:
        if "catch_all_200" in active:
            return jsonify({"ok": False, "error": "could not process the event"}), 200
        code = "stripe_signature_missing" if not request.headers.get("Stripe-Signature") else "stripe_signature_invalid"
        return error(400, "invalid", code if str(exc) != "stripe_signature_missing" else "stripe_signature_missing")
    except _Crash:
        return error(500, "internal", "unexpected error")
    except ValueError as exc:
        if "error_on_bad_json" in active and not isinstance(exc, NotAnEvent):
            return error(500, "internal", "unexpected error")
        return error(400, "invalid", "stripe_payload_invalid")
    if not well_formed(event):
        return error(400, "invalid", "stripe_payload_invalid")
    return event


def _placed(obj: dict[str, Any]) -> str | tuple[Response, int] | None:
    """The account a paid event credits (metadata.orgId, or where a fault puts it), or a faulty variant's crash."""
    active = base.faults()
    org_id = (obj.get("metadata") or {}).get("orgId")
    if active & {"crashes_on_unplaceable", "credits_latest_account"}:
        with base.db().connect() as conn:
            known = bool(org_id) and conn.execute("SELECT 1 FROM accounts WHERE org_id = ?", (org_id,)).fetchone()
            newest = conn.execute("SELECT org_id FROM accounts ORDER BY rowid DESC LIMIT 1").fetchone()
        if not known and "crashes_on_unplaceable" in active:
            return error(500, "internal", "unexpected error")  # Org.get(metadata["orgId"]) raised
        if not known and newest:
            org_id = newest[0]  # "the account that just checked out" — a fallback that pays a stranger's payment
    return org_id


def _failed_first_attempt(event: dict[str, Any]) -> tuple[Response, int] | None:
    """The 500 a variant (or the transient quirk) answers to an event's first delivery; None to go on."""
    active = base.faults()
    with base.db().connect() as conn:
        first = conn.execute("INSERT OR IGNORE INTO first_attempts VALUES (?)", (event["id"],)).rowcount == 1
    if first and "records_before_processing" in active:
        with base.db().connect() as conn:
            conn.execute("INSERT OR IGNORE INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], int(time.time())))
        return error(500, "internal", "processing failed")
    if first:
        return error(500, "internal", "temporarily unavailable")
    return None


def _pay(event: dict[str, Any]) -> Any:
    """Credit a paid event to its account, answering as the variant does."""
    active = base.faults()
    obj = event["data"]["object"]
    org_id = _placed(obj)
    if isinstance(org_id, tuple):
        return org_id
    if not org_id or (obj.get("currency") or "usd") != "usd":
        return jsonify({"ok": True, "ignored": True})
    amount = obj.get("amount_total") if "amount_total" in obj else obj.get("amount")
    if not isinstance(amount, int):
        return error(400, "invalid", "amount_missing")
    if "wrong_amount" in active:
        amount //= 100
    if "ack_without_credit" in active:
        return jsonify({"ok": True})
    if active & {"records_before_processing", "transient_failure"}:
        failed = _failed_first_attempt(event)
        if failed is not None:
            return failed
    busy: threading.Lock | None = current_app.config.setdefault("BUSY_LOCK", threading.Lock()) \
        if "busy_503" in active else None
    if busy is not None and not busy.acquire(blocking=False):
        return error(503, "unavailable", "busy")  # the bug: a busy moment fails instead of waiting its turn
    try:
        if busy is not None:
            time.sleep(0.02)  # the call to Stripe it makes while holding its lock
        outcome = _credit(event, org_id, amount, obj.get("id") if obj.get("object") == "checkout.session" else None)
    except _OnHold:
        if "drops_on_hold" in active:
            return jsonify({"ok": True, "held": True})
        # Not now, but surely later: a 503 makes Stripe retry.
        response = error(503, "unavailable", "account_on_hold")
        response[0].headers["Retry-After"] = "60"
        return response
    finally:
        if busy is not None:
            busy.release()
    if outcome == "duplicate":
        return jsonify({"ok": True, "duplicate": True})
    return jsonify({"ok": True})


def receive(slow_seconds: float) -> Any:
    """The webhook: verify, then refund, credit or acknowledge (``slow_seconds``: how long the slow variant takes)."""
    active = base.faults()
    if "acknowledges_everything" in active:
        request.get_data(cache=False)
        return jsonify({"ok": True})
    event = _verified_event()
    if isinstance(event, tuple):
        return event
    kind = event.get("type", "")
    if kind not in HANDLED:
        if "error_on_unknown" in active:
            return error(500, "internal", f"unhandled event type {kind}")
        return jsonify({"ok": True, "ignored": True})
    if "slow_ack" in active and kind in CREDITING:
        time.sleep(slow_seconds)
    if kind == "charge.refunded":
        return _refund(event)
    if not _should_credit(event):
        return jsonify({"ok": True, "ignored": True})
    return _pay(event)
