"""The emulator's clock, which tests move forward (like Stripe's test clocks, but one for the whole emulator).

The emulator's now is the real time plus an offset kept in its state: objects' ``created``, subscription periods
and Checkout expiry read it; events' ``created``, signature timestamps and delivery stay on the real time
(verifiers reject a timestamp older than five minutes). ``POST /_emulator/clock/advance {"seconds": N}`` (or
``{"to": unix_ts}``) moves it and does what became due on the way, each at its own time: subscriptions renew
(the next invoice created and charged to the saved payment method), cancel at their period's end, and first
invoices left unpaid for 23 hours expire their subscription. ``GET /_emulator/clock`` shows it. In Python:
``advance(api_base, seconds)`` and ``clock_now(api_base)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from flask import Blueprint, current_app, jsonify, request

# Ten years: far enough for any renewal test, near enough that a typo is refused.
MAX_ADVANCE_SECONDS = 10 * 366 * 86400

_bound = threading.local()


def offset_of(store: Any) -> int:
    """How many seconds ``store``'s clock is ahead of the real time."""
    return int((store.state.get("clock") or {}).get("offset", 0))


def now() -> int:
    """Now on the clock of the emulator serving this thread (the real time outside a request), in Unix seconds."""
    frozen = getattr(_bound, "frozen", None)
    if frozen is not None:
        return int(frozen)
    store = getattr(_bound, "store", None)
    return int(time.time()) + (offset_of(store) if store is not None else 0)


def now_of(store: Any) -> int:
    """``store``'s now, in Unix seconds."""
    return int(time.time()) + offset_of(store)


def bind(store: Any) -> None:
    """Make ``store``'s clock the one this thread reads (None: the real time)."""
    _bound.store = store


@contextmanager
def bound(store: Any) -> Iterator[None]:
    """Read ``store``'s clock on this thread inside the block."""
    previous = getattr(_bound, "store", None)
    _bound.store = store
    try:
        yield
    finally:
        _bound.store = previous


def move_to(store: Any, when: int) -> None:
    """Move ``store``'s clock so that now is ``when`` (never backwards)."""
    clock = store.state.setdefault("clock", {"offset": 0})
    clock["offset"] = max(int(clock.get("offset", 0)), int(when) - int(time.time()))


@contextmanager
def frozen_at(store: Any, when: int) -> Iterator[None]:
    """Move ``store``'s clock to ``when`` and hold it there on this thread inside the block."""
    move_to(store, when)
    previous = getattr(_bound, "frozen", None)
    _bound.frozen = int(when)
    try:
        yield
    finally:
        _bound.frozen = previous


def describe(store: Any) -> dict[str, Any]:
    """The clock as the control API shows it."""
    return {"object": "emulator.clock", "now": now_of(store), "offset": offset_of(store), "real_now": int(time.time())}


def _target(store: Any, values: Any) -> int:
    """The time an advance request names; ValueError when it names none or a bad one."""
    if not isinstance(values, dict) or len(set(values) & {"seconds", "to"}) != 1 or set(values) - {"seconds", "to"}:
        raise ValueError('send {"seconds": N} or {"to": unix_timestamp}')
    key = "seconds" if "seconds" in values else "to"
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{key} must be a number")
    current = now_of(store)
    target = current + int(value) if key == "seconds" else int(value)
    if target < current:
        raise ValueError(f"the clock only moves forward: it is {current} now")
    if target - current > MAX_ADVANCE_SECONDS:
        raise ValueError(f"advance by at most {MAX_ADVANCE_SECONDS} seconds (ten years) at a time")
    return target


def blueprint(advance_to: Callable[[Any, int], dict[str, Any]]) -> Blueprint:
    """``GET /_emulator/clock`` and ``POST /_emulator/clock/advance``, which runs ``advance_to(store, when)``.

    ``advance_to`` is billing's (what falls due as time passes); it is handed in because billing reads this clock.
    """
    bp = Blueprint("emulator_clock", __name__, url_prefix="/_emulator")

    @bp.get("/clock")
    def show() -> Any:
        """``GET /_emulator/clock``: now, the offset, and the real time."""
        return jsonify(describe(current_app.config["STORE"]))

    @bp.post("/clock/advance")
    def advance_route() -> Any:
        """``POST /_emulator/clock/advance``: move the clock and run what became due, emitting Stripe's events."""
        store = current_app.config["STORE"]
        with store.lock, bound(store):
            try:
                target = _target(store, request.get_json(silent=True))
                done = advance_to(store, target)
            except ValueError as exc:
                return jsonify({"error": {"message": str(exc)}}), 400
            body = dict(describe(store), **done)
        store.save()
        return jsonify(body)

    return bp


# -- for tests and scripts ---------------------------------------------------------------------
def _control(api_base: str, method: str, path: str, body: Any = None, timeout: float = 10.0) -> dict[str, Any]:
    with httpx.Client(base_url=api_base.rstrip("/"), timeout=timeout, trust_env=False) as http:
        answer = http.request(method, path, json=body)
    if answer.status_code != 200:
        message = answer.json().get("error", {}).get("message") if answer.headers.get(
            "content-type", "").startswith("application/json") else answer.text[:200]
        raise ValueError(f"the emulator at {api_base} refused {method} {path}: {message}")
    result: dict[str, Any] = answer.json()
    return result


def advance(api_base: str, seconds: float | None = None, *, to: int | None = None,
            timeout: float = 30.0) -> dict[str, Any]:
    """Move the emulator at ``api_base`` forward by ``seconds`` (or to ``to``); returns the clock and what it did."""
    if (seconds is None) == (to is None):
        raise ValueError("give seconds or to")
    body = {"seconds": seconds} if seconds is not None else {"to": to}
    return _control(api_base, "POST", "/_emulator/clock/advance", body, timeout)


def clock_now(api_base: str, timeout: float = 10.0) -> int:
    """The emulator's now at ``api_base``, in Unix seconds."""
    return int(_control(api_base, "GET", "/_emulator/clock", timeout=timeout)["now"])
