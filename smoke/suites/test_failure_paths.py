"""Failure paths that lose money: a paid event naming no account, a delayed payment, and JSON that is not an event."""

from __future__ import annotations

import copy
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.diagnosis import await_one_credit
from smoke.events import Payment, build_event
from smoke.quiet import Fire, observe, quiet_checks
from smoke.waiting import wait_for

pytestmark = [pytest.mark.smoke_simulated]

FieldPath = tuple[str, ...]


def _deliver(smoke: Smoke, event: dict[str, Any]) -> tuple[Sent, list[int]]:
    """Send ``event``; after a 5xx deliver it again, twice at most, as Stripe would (same id): the last answer and all."""
    sent = smoke.send(event)
    statuses = [sent.delivery.status]
    while sent.delivery.status >= 500 and len(statuses) < 3:
        sent = smoke.send(event)
        statuses.append(sent.delivery.status)
    return sent, statuses


def _answers(statuses: list[int]) -> str:
    """``HTTP 500`` or ``HTTP 500 on the first delivery and 500, 500 on Stripe's redeliveries of the same event``."""
    if len(statuses) == 1:
        return f"HTTP {statuses[0]}"
    return (f"HTTP {statuses[0]} on the first delivery and {', '.join(map(str, statuses[1:]))} on redeliveries of the "
            "same event, as Stripe retries")


# -- 1. a paid event the target cannot place --------------------------------------------------------------------
def _placing_paths(raw: Any, resolved: Any, path: FieldPath = ()) -> list[FieldPath]:
    """The ``[webhook.object]`` fields filled from the buyer or a setup step (a placeholder that resolves to text)."""
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return [found for key in raw if key in resolved for found in _placing_paths(raw[key], resolved[key], (*path, key))]
    if isinstance(raw, str) and "${" in raw and isinstance(resolved, str) and path[-1:] != ("currency",):
        return [path]
    return []


def _stranger(value: str) -> str:
    """An id no account has, shaped like ``value`` (its ``prefix_``, if any)."""
    prefix = re.match(r"[A-Za-z]+_", value)
    return f"{prefix.group(0) if prefix else ''}does_not_exist_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Unplaceable:
    """A way for a paid event to name no account the target has."""

    description: str
    missing: bool  # True: the fields are left out; False: they name an account that does not exist


UNPLACEABLE = {
    "missing_account": Unplaceable("without the fields that name the account", True),
    "unknown_account": Unplaceable("naming an account that does not exist", False),
}


def _at(data: dict[str, Any], path: FieldPath) -> Any:
    """The value at ``path``."""
    for key in path:
        data = data[key]
    return data


def _unplaceable_fields(fields: dict[str, Any], paths: list[FieldPath], missing: bool) -> dict[str, Any]:
    """``fields`` with each path left out (metadata) or null (top-level fields), or set to an id no account has."""
    changed = copy.deepcopy(fields)
    for path in paths:
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        if not missing:
            parent[path[-1]] = _stranger(str(parent[path[-1]]))
        elif "metadata" in path[:-1]:
            del parent[path[-1]]
        else:
            parent[path[-1]] = None
    return changed


def _ledger_entries(smoke: Smoke, ids: set[str]) -> list[Any]:
    """The buyer's ledger entries mentioning ``ids`` (watched for the settle window when no credit state is read)."""
    def read() -> list[Any]:
        return smoke.target.ledger_entries_mentioning(ids) or []

    if smoke.observable:  # the settle window was just waited out watching the state
        return read()
    return wait_for(read, bool, smoke.settings.settle, start=0.1, cap=max(0.1, smoke.settings.settle / 3)).value or []


@dataclass
class _Fired:
    """One unplaceable payment as sent: what names it, and every answer to it (Stripe retries a 5xx)."""

    event: dict[str, Any]
    payment: Payment
    named: str
    statuses: list[int]


# The payments the fires below sent, by event id, for their checks to judge (a shared window sends them early).
_FIRED: dict[str, _Fired] = {}


def _placing(smoke: Smoke) -> list[FieldPath]:
    """The fields that name the buyer's account in the crediting event (none: the check cannot build its events)."""
    return _placing_paths(smoke.target.profile.credit_object, smoke.target.credit_fields())


def _fire_unplaceable(case: Unplaceable) -> Fire:
    def fire(smoke: Smoke) -> Sent | None:
        paths = _placing(smoke)
        if not paths:
            return None
        unplaceable = _unplaceable_fields(smoke.target.credit_fields(), paths, case.missing)
        named = ", ".join(".".join(p) if case.missing else f"{'.'.join(p)} = {_at(unplaceable, p)!r}" for p in paths)
        # A stranger's e-mail too: an event that still carried the buyer's could rightly be placed by it.
        payment = Payment(amount=smoke.amount, email=f"nobody+{secrets.token_hex(4)}@example.com")
        event = build_event(smoke.target.profile.credit_event, payment, unplaceable, api_version=smoke.api_version)
        sent, statuses = _deliver(smoke, event)
        _FIRED[event["id"]] = _Fired(event, payment, named, statuses)
        return sent

    return fire


# Each case's payment, sent exactly as the check sends it: one settle window observes them with the session's other
# events that must change nothing (smoke/quiet.py).
UNPLACEABLE_FIRES = {kind: _fire_unplaceable(case) for kind, case in UNPLACEABLE.items()}
quiet_checks("test_unplaceable_payment_credits_nobody", "kind", UNPLACEABLE_FIRES)


@pytest.mark.smoke_depends_on("credit")
@pytest.mark.parametrize("kind", list(UNPLACEABLE))
def test_unplaceable_payment_credits_nobody(smoke: Smoke, kind: str) -> None:
    """A signed crediting event whose account is missing or unknown gets a 2xx or 4xx (never a 5xx) and credits nobody."""
    case = UNPLACEABLE[kind]
    profile = smoke.target.profile
    if not _placing(smoke):
        pytest.skip("the profile's [webhook.object] has no field filled from the buyer or a setup step, so the "
                    "harness cannot tell which fields name the account")
    observed = observe(smoke, UNPLACEABLE_FIRES[kind])
    assert observed is not None
    baseline, sent = observed.baseline, observed.sent
    fired = _FIRED.pop(sent.event["id"])
    event, payment, status = fired.event, fired.payment, sent.delivery.status
    what = f"A correctly signed {event['type']} ({event['id']}) {case.description} ({fired.named})"
    if status >= 500:
        fail(f"{what} got {_answers(fired.statuses)}: the webhook crashes on a payment it cannot place. Stripe retries a "
             "5xx for up to three days and may then disable the endpoint, losing every later payment too; answer 2xx "
             "(and keep the payment for a person to place) or a 4xx.", "crashes_on_unplaceable")
    if smoke.observable:
        seen = observed.moved()
        if seen is not None:
            effect = smoke.effect()
            if effect.numeric or seen == effect.to:
                fail(f"{what} was answered HTTP {status} and credited the buyer (the credit state went {baseline} → "
                     f"{seen}), though it carries none of the buyer's ids nor their e-mail: the webhook credits an "
                     "account the event does not name (a fallback such as the latest or only account?); keep a "
                     "payment it cannot place for a person instead.", "credits_unplaceable")
            fail(f"{what} moved the state from {baseline} to {seen!r}, which the profile does not list among the "
                 f"states such an event may lead to ([effect] may_become = {list(effect.may_become or [])}).",
                 "unexpected_state")
    if profile.can("ledger"):
        entries = _ledger_entries(smoke, {payment.session, payment.payment_intent, payment.charge, event["id"]})
        if entries:
            fail(f"{what} was answered HTTP {status}, and the buyer's ledger now has an entry for that payment "
                 f"({json.dumps(entries[0], default=str)[:200]}), though the event carries none of the buyer's ids "
                 "nor their e-mail: the webhook credits an account the event does not name; keep a payment it cannot "
                 "place for a person instead.", "credits_unplaceable")


# -- 2. delayed payment methods ---------------------------------------------------------------------------------
DELAYED_METHODS = {"payment_method_types": ["card", "us_bank_account"]}


@pytest.mark.smoke_depends_on("credit")
@pytest.mark.smoke_needs("async_payments")
def test_delayed_payment_credits_when_it_succeeds(smoke: Smoke) -> None:
    """An unpaid checkout.session.completed credits nothing; its async_payment_succeeded then credits exactly once."""
    credit_event = smoke.target.profile.credit_event
    if not credit_event.startswith("checkout.session."):
        pytest.skip(f"the crediting event is {credit_event}, not a Checkout Session's: for a delayed payment Stripe "
                    "sends it only once the money has arrived, so test_signed_event_credits_exact_amount covers it")
    payment = smoke.payment()
    unpaid = smoke.event("checkout.session.completed", payment, {**DELAYED_METHODS, "payment_status": "unpaid"})
    succeeded = smoke.event("checkout.session.async_payment_succeeded", payment, dict(DELAYED_METHODS))
    baseline = smoke.read() if smoke.observable else None

    first, statuses = _deliver(smoke, unpaid)
    what = (f"A delayed payment's checkout.session.completed with payment_status unpaid ({unpaid['id']}, session "
            f"{payment.session})")
    _acknowledged(first, statuses, what, "non_crediting",
                  "Stripe retries it for days, so acknowledge an unpaid completion and credit nothing yet")
    if smoke.observable:
        seen = smoke.changed(baseline)
        if seen is not None:
            fail(f"{what} credited the buyer before the money arrived: the credit state went {baseline} → {seen}. "
                 "A completed but unpaid session (a bank debit still pending) may yet fail; credit on "
                 "checkout.session.async_payment_succeeded instead.", "credits_unpaid_session")

    second, statuses = _deliver(smoke, succeeded)
    what = (f"checkout.session.async_payment_succeeded ({succeeded['id']}) for the same session {payment.session}, "
            "same amount and metadata")
    _acknowledged(second, statuses, what, "async_success",
                  "it is the delayed payment's crediting event, and Stripe gives up after its retries: the payment is lost")
    if not smoke.observable:
        return
    credit = await_one_credit(smoke, baseline, what)
    if credit is None:
        return
    fail(f"{what} was acknowledged (HTTP {second.delivery.status}) but the credit state did not move "
         f"({smoke.effect().describe(baseline)} expected, still {credit.seen} after {smoke.settings.timeout:g}s), while a paid "
         "checkout.session.completed credits: the webhook ignores a delayed payment (a bank debit) that succeeds "
         "later, and Stripe will not resend an acknowledged event. Credit on async_payment_succeeded too, once per "
         "session.", "ignores_async_success")


def _acknowledged(sent: Sent, statuses: list[int], what: str, cause: str, why: str) -> None:
    """Fail unless the event was acknowledged with a 2xx (``crashes_on_<cause>`` / ``rejects_<cause>``)."""
    status = sent.delivery.status
    if status >= 500:
        fail(f"{what} got {_answers(statuses)}: the webhook crashes on it; {why}.", f"crashes_on_{cause}")
    if not sent.delivery.ok:
        fail(f"{what} got HTTP {status}: a correctly signed event must be acknowledged with 2xx; {why}.",
             f"rejects_{cause}")


# -- 3. JSON that is not an event -------------------------------------------------------------------------------
NOT_EVENTS = {
    "list": lambda _type: b"[]",
    "null": lambda _type: b"null",
    "string": lambda _type: b'"x"',
    "number": lambda _type: b"42",
    "empty_object": lambda _type: b"{}",
    "null_data": lambda _type: b'{"data": null}',
    "null_object": lambda event_type: json.dumps({"type": event_type, "data": {"object": None}}).encode(),
}
# Objects, so a verifier may take them for events of an unknown kind and acknowledge them (harmless if nothing moves).
OBJECT_LIKE = {"empty_object", "null_data", "null_object"}


@pytest.mark.smoke_depends_on("credit")
@pytest.mark.parametrize("kind", list(NOT_EVENTS))
def test_non_event_json_is_refused(smoke: Smoke, kind: str) -> None:
    """JSON that is not an event, unsigned and correctly signed, gets a 4xx (never a 5xx) and credits nothing."""
    body = NOT_EVENTS[kind](smoke.target.profile.credit_event)
    shown = body.decode()
    label = {"type": f"(non-event JSON: {shown})", "id": "-"}
    baseline = smoke.read() if smoke.observable and kind in OBJECT_LIKE else None
    unsigned = smoke.send(label, body=body, signature="")
    signed = smoke.send(label, body=body)
    crashed = [f"HTTP {s.delivery.status} when {how}" for how, s in (("sent without a signature", unsigned),
                                                                      ("correctly signed", signed))
               if s.delivery.status >= 500]
    if crashed:
        where = "after the signature check" if unsigned.delivery.status < 500 else "before checking the signature"
        fix = ("check that the event has an id, a type and an object in data.object before using it" if kind in OBJECT_LIKE
               else "stripe-python's construct_event raises AttributeError, not ValueError, on JSON that is not an "
                    "object: catch it")
        fail(f"The body {shown!r} (JSON, but not a Stripe event) got {' and '.join(crashed)}: the webhook crashes on "
             f"it {where}; refuse it with a 4xx ({fix}).", "crashes_on_non_event")
    if unsigned.delivery.status < 400:
        fail(f"The body {shown!r}, sent with no Stripe-Signature header, was acknowledged with HTTP "
             f"{unsigned.delivery.status}: the webhook answers 2xx to a request that fails verification (a catch-all, "
             "or a check of the body's shape before the signature); verify the signature first and refuse with a 4xx.",
             "acknowledges_rejection")
    if signed.delivery.status < 400 and kind not in OBJECT_LIKE:
        fail(f"The body {shown!r}, correctly signed, was acknowledged with HTTP {signed.delivery.status}, though it is "
             "JSON but not an object, so not an event (stripe-python's construct_event fails on it): refuse it with a 4xx, so a "
             "broken sender shows in your logs instead of being acknowledged.", "acknowledges_non_event")
    if signed.delivery.status < 400 and smoke.observable:
        seen = smoke.changed(baseline)
        if seen is not None:
            fail(f"The body {shown!r}, correctly signed, was acknowledged with HTTP {signed.delivery.status} and the "
                 f"credit state went {baseline} → {seen}, though it names no payment: the webhook credits from a body "
                 "that is not an event.", "credits_non_event")
