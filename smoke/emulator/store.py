"""The emulator's state: Stripe objects, events and endpoints in memory, behind one lock, optionally in a JSON file."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smoke.emulator import billing, checkout, clock
from smoke.emulator.checkout import PayResult
from smoke.emulator.objects import build
from smoke.events import DEFAULT_API_VERSION, LATEST_CHARGE_SINCE, envelope

LAYOUTS = ("accordion", "card", "iframe", "embedded", "legacy")
KINDS = ("customer", "product", "price", "checkout.session", "payment_intent", "payment_method", "charge",
         "refund", "subscription", "invoice", "event", "webhook_endpoint", "setup_intent")
# Id prefixes, for expanding an id into its object.
PREFIXES = {"cus_": "customer", "prod_": "product", "price_": "price", "cs_": "checkout.session",
            "pi_": "payment_intent", "pm_": "payment_method", "ch_": "charge", "re_": "refund",
            "sub_": "subscription", "in_": "invoice", "evt_": "event", "we_": "webhook_endpoint",
            "seti_": "setup_intent"}


@dataclass
class Settings:
    """Emulator-wide behaviour that tests and the control API may change."""

    layout: str = "accordion"
    retry_base_seconds: float = 60.0
    max_retries: int = 3
    delivery_timeout: float = 10.0

    def update(self, values: dict[str, Any]) -> None:
        """Apply known settings from ``values``, validating them; ValueError on a bad one."""
        for key, value in values.items():
            if key == "layout":
                if value not in LAYOUTS:
                    raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
                self.layout = value
            elif key in ("retry_base_seconds", "delivery_timeout"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise ValueError(f"{key} must be a positive number of seconds")
                setattr(self, key, float(value))
            elif key == "max_retries":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("max_retries must be a whole number ≥ 0")
                self.max_retries = value
            else:
                raise ValueError(f"unknown setting {key!r}")


@dataclass
class RequestInfo:
    """The API request being served, for the ``request`` field of the events it causes."""

    id: str | None = None
    idempotency_key: str | None = None


def _empty_state() -> dict[str, Any]:
    return {"objects": {kind: {} for kind in KINDS}, "line_items": {}, "endpoint_secrets": {},
            "pi_session": {}, "session_attempt_pi": {}, "session_params": {}, "pm_cards": {},
            "idempotency": {}}


@dataclass
class Store:
    """All of one emulator's state; every read and write happens under ``lock``."""

    state_file: Path | None = None
    settings: Settings = field(default_factory=Settings)
    base_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self.state: dict[str, Any] = _empty_state()
        self._request = threading.local()
        self.deliverer: Any = None
        if self.state_file is not None and Path(self.state_file).is_file():
            with open(self.state_file, encoding="utf-8") as fh:
                loaded = json.load(fh)
            self.state.update(loaded)
            for kind in KINDS:
                self.state["objects"].setdefault(kind, {})

    # -- plumbing ---------------------------------------------------------------------
    def save(self) -> None:
        """Write the state to ``state_file`` atomically (no-op without one)."""
        if self.state_file is None:
            return
        path = Path(self.state_file)
        with self.lock:
            data = json.dumps(self.state)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".emulator-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def reset(self) -> None:
        """Forget every object, event and endpoint (settings stay)."""
        with self.lock:
            self.state = _empty_state()
            if self.deliverer is not None:
                self.deliverer.clear()
        self.save()

    def set_request(self, info: RequestInfo | None) -> None:
        """Remember the API request the current thread is serving (None when done); its clock is this store's."""
        self._request.info = info
        clock.bind(self if info is not None else None)

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        """The objects of one kind, oldest first."""
        return self.state["objects"][kind]

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """The stored object (not a copy), or None."""
        return self.table(kind).get(object_id)

    def put(self, obj: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """Store ``obj`` under its id."""
        self.table(kind or obj["object"])[obj["id"]] = obj
        return obj

    def kind_of(self, object_id: str) -> str | None:
        """The kind an id names, by its prefix."""
        for prefix, kind in PREFIXES.items():
            if object_id.startswith(prefix):
                return kind
        return None

    # -- events ---------------------------------------------------------------------
    def endpoints_for(self, event_type: str) -> list[dict[str, Any]]:
        """Enabled webhook endpoints subscribed to ``event_type``."""
        return [ep for ep in self.table("webhook_endpoint").values()
                if ep.get("status") == "enabled"
                and ("*" in ep["enabled_events"] or event_type in ep["enabled_events"])]

    def emit(self, event_type: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record an event about ``obj`` (a snapshot) and hand it to delivery."""
        with self.lock:
            endpoints = self.endpoints_for(event_type)
            info = getattr(self._request, "info", None) or RequestInfo()
            event = envelope(event_type, copy.deepcopy(obj), api_version=DEFAULT_API_VERSION,
                             pending_webhooks=len(endpoints), request_id=info.id,
                             idempotency_key=info.idempotency_key, previous_attributes=previous_attributes)
            self.put(event, "event")
            if self.deliverer is not None and endpoints:
                self.deliverer.enqueue(event["id"], [ep["id"] for ep in endpoints])
            return event

    def delivered(self, event_id: str) -> None:
        """One endpoint acknowledged ``event_id``: one fewer delivery owed."""
        with self.lock:
            event = self.get("event", event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1
        self.save()

    # -- rendering ---------------------------------------------------------------------
    def render(self, obj: dict[str, Any], api_version: str | None = None) -> dict[str, Any]:
        """A copy of ``obj`` shaped for ``api_version`` (older versions: ``charges`` on PaymentIntents)."""
        with self.lock:
            out = copy.deepcopy(obj)
            version = api_version or DEFAULT_API_VERSION
            if out.get("object") == "event":
                out["api_version"] = version
                out["data"]["object"] = self.render(out["data"]["object"], version)
            elif out.get("object") == "payment_intent" and version[:10] < LATEST_CHARGE_SINCE:
                charge_id = out.pop("latest_charge", None)
                charge = self.get("charge", charge_id) if charge_id else None
                data = [copy.deepcopy(charge)] if charge else []
                out["charges"] = {"object": "list", "data": data, "has_more": False, "total_count": len(data),
                                  "url": f"/v1/charges?payment_intent={out['id']}"}
            billing.shape(self, out, version)  # invoices and subscriptions before basil (2025-03-31)
            return out

    # -- the hosted page's contract ---------------------------------------------------
    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """A copy of the Checkout Session, or None."""
        with self.lock:
            session = self.get("checkout.session", session_id)
            return copy.deepcopy(session) if session else None

    def session_line_items(self, session_id: str) -> list[dict[str, Any]]:
        """Copies of the session's line items (``item`` objects with their price)."""
        with self.lock:
            return copy.deepcopy(self.state["line_items"].get(session_id, []))

    def session_layout(self, session_id: str) -> str:
        """The hosted page layout for this session: its ``smoke_layout`` metadata, else the emulator's."""
        with self.lock:
            session = self.get("checkout.session", session_id) or {}
            layout = (session.get("metadata") or {}).get("smoke_layout")
            return layout if layout in LAYOUTS else self.settings.layout

    def pay_session(self, session_id: str, card_number: str, *, email: str | None = None,
                    name: str | None = None) -> PayResult:
        """Pay an open session with a test card number, producing the objects and events Stripe would."""
        with self.lock, clock.bound(self):
            result = checkout.pay_session_with_card(self, session_id, card_number, email=email, name=name)
        self.save()
        return result

    def finish_3ds(self, session_id: str, approve: bool) -> PayResult:
        """Complete (or fail) the 3D Secure challenge a session's payment is waiting on."""
        with self.lock, clock.bound(self):
            result = checkout.finish_3ds(self, session_id, approve)
        self.save()
        return result

    def new(self, resource: str, fields: dict[str, Any], prefix: str | None = None) -> dict[str, Any]:
        """Build and store a new object of ``resource``."""
        obj = build(resource, fields, prefix=prefix)
        with self.lock:
            return self.put(obj, "checkout.session" if resource == "checkout.session" else obj["object"])
