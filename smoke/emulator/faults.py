"""Stripe outages on demand: fail the target's next N calls to the emulator, or every call to a route for a while.

A fault answers a matching ``/v1`` request with Stripe's 500 ``api_error``, holds it past the caller's timeout
(bounded by ``hold_seconds``, then the connection is closed), or closes the connection without an answer. The
harness's own Stripe client sends ``Stripe-Smoke-Harness: 1`` (smoke/stripe_api.py) and is never failed, so a drill
can pay and look while the target's calls fail.

Controls: ``POST /_emulator/faults`` ``{"calls": 3 | "seconds": 5, "kind": "api_error" | "timeout" | "reset",
"route": "/v1/payment_intents", "about": ["pi_…"], "hold_seconds": 30}``; ``GET /_emulator/faults`` lists every
fault with how many calls it failed; ``DELETE /_emulator/faults`` (or ``/_emulator/faults/<id>``) ends them. In
Python: ``with stripe_outage(api_base, calls=3, kind="timeout"): …``; on the command line:
``stripe-smoke emulator fault --api-base URL --calls 3 --kind timeout``.
"""

from __future__ import annotations

import json
import re
import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from smoke.errors import ConfigError, SmokeError, TargetUnreachable
from smoke.stripe_api import HARNESS_HEADER

KINDS = ("api_error", "timeout", "reset")
DEFAULT_ROUTE = "/v1/"
DEFAULT_HOLD_SECONDS = 30.0
MAX_HOLD_SECONDS = 300.0
MAX_SECONDS = 86_400.0
MAX_CALLS = 100_000
# The WSGI environ key of the harness's header.
_HARNESS_ENVIRON = "HTTP_" + HARNESS_HEADER.upper().replace("-", "_")
_ID = re.compile(r"\b[a-z]{2,8}_[A-Za-z0-9_]{6,}")
# How often a held request looks whether its caller has gone or the fault was ended.
_POLL_SECONDS = 0.1


@dataclass
class Fault:
    """One injected fault: which calls it fails, how, and how many it has failed so far."""

    id: str
    kind: str
    route: str
    calls: int | None
    seconds: float | None
    about: tuple[str, ...] = ()
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    created: float = field(default_factory=time.monotonic)
    fired: int = 0
    recent: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def remaining_calls(self) -> int | None:
        """Calls still to fail (None for a window of seconds)."""
        return None if self.calls is None else max(0, self.calls - self.fired)

    def active(self, now: float) -> bool:
        """True while the fault still fails calls."""
        if self.ended.is_set():
            return False
        if self.calls is not None:
            return self.fired < self.calls
        return now < self.created + (self.seconds or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, how many calls it failed, the last few of them, and whether it is still on."""
        now = time.monotonic()
        left = None if self.seconds is None else round(max(0.0, self.created + self.seconds - now), 3)
        return {"id": self.id, "object": "emulator.fault", "kind": self.kind, "route": self.route,
                "about": list(self.about), "calls": self.calls, "seconds": self.seconds,
                "hold_seconds": self.hold_seconds if self.kind == "timeout" else None,
                "remaining_calls": self.remaining_calls, "seconds_left": left, "fired": self.fired,
                "recent": list(self.recent), "active": self.active(now)}


def parse_fault(values: Any) -> Fault:
    """A Fault from the control API's JSON; ValueError (one sentence) on anything malformed."""
    if not isinstance(values, dict):
        raise ValueError('send a JSON object, e.g. {"calls": 3, "kind": "api_error", "route": "/v1/payment_intents"}')
    unknown = sorted(set(values) - {"calls", "seconds", "kind", "route", "about", "hold_seconds"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}: a fault takes calls or seconds, kind, route, about and hold_seconds")
    calls, seconds = values.get("calls"), values.get("seconds")
    if (calls is None) == (seconds is None):
        raise ValueError("give exactly one of calls (fail the next N calls) or seconds (fail every call for a window)")
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= MAX_CALLS):
        raise ValueError(f"calls must be a whole number from 1 to {MAX_CALLS:,}")
    if seconds is not None:
        seconds = _seconds(seconds, "seconds", MAX_SECONDS)
    kind = values.get("kind", "api_error")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    route = values.get("route", DEFAULT_ROUTE)
    if not isinstance(route, str) or not route.startswith("/v1") or any(c.isspace() for c in route):
        raise ValueError(f"route must be a path prefix of Stripe's API starting with /v1 (e.g. /v1/payment_intents), not {route!r}")
    about = values.get("about", [])
    about = [about] if isinstance(about, str) else about
    if not isinstance(about, list) or not all(isinstance(a, str) and _ID.fullmatch(a) for a in about):
        raise ValueError("about must be a list of Stripe ids (e.g. [\"pi_3Nx…\"])")
    hold = _seconds(values.get("hold_seconds", DEFAULT_HOLD_SECONDS), "hold_seconds", MAX_HOLD_SECONDS)
    return Fault("flt_" + secrets.token_hex(8), kind, route, calls, seconds, tuple(about), hold)


def _seconds(value: Any, name: str, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= maximum:
        raise ValueError(f"{name} must be a number of seconds above 0 and at most {maximum:g}")
    return float(value)


class FaultBook:
    """The faults of one emulator, behind a lock; requests ask it whether to fail."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def add(self, fault: Fault) -> Fault:
        """Start ``fault`` now."""
        with self._lock:
            fault.created = time.monotonic()
            self._faults[fault.id] = fault
        return fault

    def listed(self) -> list[dict[str, Any]]:
        """Every fault, oldest first, with how many calls it failed."""
        with self._lock:
            return [f.to_dict() for f in self._faults.values()]

    def clear(self, fault_id: str | None = None) -> int:
        """End one fault (by id) or all of them, releasing the requests they hold; how many were ended."""
        with self._lock:
            ids = [fault_id] if fault_id is not None else list(self._faults)
            ended = [self._faults.pop(i) for i in ids if i in self._faults]
        for fault in ended:
            fault.ended.set()
        return len(ended)

    def stop(self) -> None:
        """Release every held request (the emulator is stopping)."""
        self._stopped.set()
        self.clear()

    def fire(self, method: str, path: str, query: str, related: Callable[[set[str]], set[str]]) -> Fault | None:
        """The fault that fails this call (counting it), or None; ``related`` widens the ids a call is about."""
        with self._lock:
            now = time.monotonic()
            candidates = [f for f in self._faults.values() if f.active(now) and path.startswith(f.route)]
        if not candidates:
            return None
        mentioned: set[str] | None = None
        for fault in candidates:
            if fault.about:
                if mentioned is None:
                    mentioned = related(set(_ID.findall(unquote(f"{path}?{query}"))))
                if not mentioned.intersection(fault.about):
                    continue
            with self._lock:
                if not fault.active(time.monotonic()):
                    continue
                fault.fired += 1
                fault.recent = [*fault.recent, f"{method} {path}"][-10:]
            return fault
        return None

    def hold(self, fault: Fault, environ: dict[str, Any]) -> None:
        """Keep a request unanswered until ``hold_seconds`` pass, its caller hangs up, or the fault is ended."""
        sock = environ.get("werkzeug.socket")
        _drain(environ)
        deadline = time.monotonic() + fault.hold_seconds
        while not (fault.ended.is_set() or self._stopped.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if sock is None:
                fault.ended.wait(min(_POLL_SECONDS, remaining))
                continue
            try:
                readable, _, _ = select.select([sock], [], [], min(_POLL_SECONDS, remaining))
            except (OSError, ValueError):
                return
            if readable and _hung_up(sock):
                return


def _drain(environ: dict[str, Any]) -> None:
    """Read the request body, so that a caller hanging up shows as the end of the stream."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    stream = environ.get("wsgi.input")
    if length > 0 and stream is not None:
        try:
            stream.read(min(length, 10_000_000))
        except OSError:
            pass


def _hung_up(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)) == b""
    except (BlockingIOError, ValueError):  # nothing to read yet; a TLS socket can't peek: hold until the deadline
        return False
    except OSError:
        return True


def _drop(environ: dict[str, Any]) -> None:
    """Close the connection without an answer (a reset once the socket is released)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _related(store: Any) -> Callable[[set[str]], set[str]]:
    """The ids a call is about, widened by the emulator's objects (an event → its object, an intent → its session)."""

    def widen(ids: set[str]) -> set[str]:
        out = set(ids)
        with store.lock:
            for object_id in ids:
                kind = store.kind_of(object_id)
                obj = store.get(kind, object_id) if kind else None
                if obj is None:
                    continue
                if obj.get("object") == "event":
                    obj = (obj.get("data") or {}).get("object") or {}
                for key in ("id", "payment_intent", "latest_charge", "charge", "subscription", "invoice"):
                    value = obj.get(key)
                    if isinstance(value, str):
                        out.add(value)
                for value in list(out):
                    session = store.state["pi_session"].get(value)
                    if session:
                        out.add(session)
        return out

    return widen


class FaultMiddleware:
    """WSGI middleware in front of the emulator: fails the ``/v1`` calls a fault matches, never the harness's."""

    def __init__(self, app: Callable[..., Any], book: FaultBook, store: Any) -> None:
        self.app, self.book, self.related = app, book, _related(store)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Serve the request, unless a fault fails it."""
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v1/") or environ.get(_HARNESS_ENVIRON):
            return self.app(environ, start_response)
        fault = self.book.fire(environ.get("REQUEST_METHOD", "GET"), path, environ.get("QUERY_STRING", ""), self.related)
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == "api_error":
            from smoke.emulator.errors import StripeApiError
            from smoke.events import new_id

            error = StripeApiError(500, "api_error", "An unknown error occurred while processing your request "
                                   f"(injected by the stripe-smoke emulator: fault {fault.id}).")
            body = (json.dumps(error.body(), indent=2) + "\n").encode()
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "application/json"),
                                                        ("Content-Length", str(len(body))),
                                                        ("Request-Id", new_id("req", 14))])
            return [body]
        if fault.kind == "timeout":
            self.book.hold(fault, environ)
        _drop(environ)
        # werkzeug takes a ConnectionError from the app as a dropped connection: no answer, nothing logged.
        raise ConnectionResetError(f"stripe-smoke emulator: fault {fault.id} ({fault.kind}) closed the connection")


def blueprint() -> Any:
    """``/_emulator/faults``: add, list and end faults."""
    from flask import Blueprint, current_app, jsonify, request

    bp = Blueprint("emulator_faults", __name__, url_prefix="/_emulator")

    def book() -> FaultBook:
        return current_app.config["FAULTS"]

    @bp.post("/faults")
    def add() -> Any:
        """``POST /_emulator/faults``: start a fault."""
        try:
            fault = parse_fault(request.get_json(silent=True))
        except ValueError as exc:
            return jsonify({"error": {"type": "invalid_request_error", "message": f"{str(exc).rstrip('.')}."}}), 400
        return jsonify(book().add(fault).to_dict()), 201

    @bp.get("/faults")
    def listed() -> Any:
        """``GET /_emulator/faults``: every fault and how many calls it failed."""
        return jsonify({"faults": book().listed()})

    @bp.delete("/faults")
    def clear_all() -> Any:
        """``DELETE /_emulator/faults``: end every fault."""
        return jsonify({"cleared": book().clear()})

    @bp.delete("/faults/<fault_id>")
    def clear_one(fault_id: str) -> Any:
        """``DELETE /_emulator/faults/<id>``: end one fault."""
        cleared = book().clear(fault_id)
        if not cleared:
            return jsonify({"error": {"type": "invalid_request_error", "message": f"No such fault: {fault_id!r}."}}), 404
        return jsonify({"cleared": cleared})

    return bp


# -- the client side: the drill, tests and the CLI ------------------------------------------------------------------


def verify_for(api_base: str) -> Any:
    """What httpx should verify an emulator's TLS with: the CA bundle in the environment when it serves https."""
    import ssl

    from smoke.stripe_api import ca_bundle

    bundle = ca_bundle() if api_base.startswith("https://") else None
    return ssl.create_default_context(cafile=bundle) if bundle else True


def _control(api_base: str, method: str, path: str, *, json_body: Any = None, timeout: float = 10.0) -> Any:
    """Call the emulator's fault controls; unreachable → TargetUnreachable, not an emulator or refused → ConfigError."""
    import httpx

    url = f"{api_base.rstrip('/')}/_emulator{path}"
    try:
        response = httpx.request(method, url, json=json_body, timeout=timeout, trust_env=False,
                                 verify=verify_for(api_base))
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise TargetUnreachable(f"The Stripe emulator at {api_base} did not answer ({type(exc).__name__}); start it "
                                "with 'stripe-smoke emulator' or check --api-base.") from None
    except httpx.HTTPError as exc:
        raise ConfigError(f"Could not call the Stripe emulator at {api_base} ({type(exc).__name__}); check --api-base.") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 404 and not (isinstance(data, dict) and "error" in data and path.startswith("/faults/")):
        raise ConfigError(f"{api_base} is not a stripe-smoke emulator with fault controls ({method} {url} answered 404); "
                          "point --api-base (STRIPE_API_BASE) at one.")
    if not response.is_success or not isinstance(data, dict):
        message = (data or {}).get("error", {}).get("message") if isinstance(data, dict) else None
        raise ConfigError(f"The Stripe emulator refused the fault: {message or f'HTTP {response.status_code}'}")
    return data


def controllable(api_base: str | None, timeout: float = 5.0) -> bool:
    """True when ``api_base`` is a stripe-smoke emulator whose faults the harness can set."""
    if not api_base or not api_base.startswith(("http://", "https://")):
        return False
    try:
        return isinstance(_control(api_base, "GET", "/faults", timeout=timeout).get("faults"), list)
    except SmokeError:
        return False


def add_fault(api_base: str, *, calls: int | None = None, seconds: float | None = None, kind: str = "api_error",
              route: str = DEFAULT_ROUTE, about: Iterable[str] = (), hold_seconds: float = DEFAULT_HOLD_SECONDS,
              timeout: float = 10.0) -> dict[str, Any]:
    """Start a fault on the emulator at ``api_base``; its JSON (``id``, ``fired``…)."""
    spec: dict[str, Any] = {"kind": kind, "route": route, "about": list(about), "hold_seconds": hold_seconds}
    spec.update({"calls": calls} if calls is not None else {"seconds": seconds})
    return _control(api_base, "POST", "/faults", json_body=spec, timeout=timeout)


def list_faults(api_base: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every fault of the emulator at ``api_base``, with how many calls each failed."""
    return list(_control(api_base, "GET", "/faults", timeout=timeout)["faults"])


def clear_faults(api_base: str, fault_id: str | None = None, timeout: float = 10.0) -> int:
    """End one fault (by id) or every fault of the emulator at ``api_base``; how many were ended."""
    path = f"/faults/{fault_id}" if fault_id else "/faults"
    try:
        return int(_control(api_base, "DELETE", path, timeout=timeout)["cleared"])
    except ConfigError:
        if fault_id:
            return 0  # already ended
        raise


@dataclass
class Outage:
    """A fault while it is on: its id, how many of the target's calls it failed, and a way to end it early."""

    api_base: str
    id: str
    timeout: float = 10.0
    ended: bool = False

    def fired(self) -> int:
        """How many calls the fault has failed so far."""
        return sum(int(f["fired"]) for f in list_faults(self.api_base, self.timeout) if f["id"] == self.id)

    def failed_calls(self) -> list[str]:
        """The last calls it failed (``GET /v1/payment_intents/pi_…``)."""
        return [c for f in list_faults(self.api_base, self.timeout) if f["id"] == self.id for c in f["recent"]]

    def end(self) -> int:
        """End the outage now (Stripe is back); returns how many calls it failed."""
        if self.ended:
            return 0
        fired = self.fired()
        clear_faults(self.api_base, self.id, self.timeout)
        self.ended = True
        return fired


@contextmanager
def stripe_outage(api_base: str, *, calls: int | None = None, seconds: float | None = None, kind: str = "api_error",
                  route: str = DEFAULT_ROUTE, about: Iterable[str] = (), hold_seconds: float = DEFAULT_HOLD_SECONDS,
                  timeout: float = 10.0) -> Iterator[Outage]:
    """Fail the target's next ``calls`` Stripe calls (or every call for ``seconds``) to ``route``; ended on exit."""
    fault = add_fault(api_base, calls=calls, seconds=seconds, kind=kind, route=route, about=about,
                      hold_seconds=hold_seconds, timeout=timeout)
    outage = Outage(api_base, str(fault["id"]), timeout)
    try:
        yield outage
    finally:
        if not outage.ended:
            clear_faults(api_base, outage.id, timeout)
            outage.ended = True
