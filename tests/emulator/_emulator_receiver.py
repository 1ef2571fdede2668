"""A webhook receiver for the emulator's delivery tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import stripe
from flask import Flask, request

from smoke.servers import RunningServer


@dataclass
class Receiver:
    """A webhook receiver that verifies each delivery with ``stripe.Webhook.construct_event``."""

    secret: str = ""
    fail_first: int = 0  # answer 500 to this many deliveries before succeeding
    slow_first: int = 0  # sleep past the emulator's timeout on this many deliveries
    slow_seconds: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)  # set it to answer held deliveries now
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: RunningServer | None = None

    @property
    def url(self) -> str:
        """The webhook URL."""
        assert self.server is not None
        return self.server.url + "/webhook"

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Verified events acknowledged with a 2xx, optionally of one type."""
        with self.lock:
            return [r["event"] for r in self.received if r["status"] == 200
                    and (event_type is None or r["event"]["type"] == event_type)]

    def app(self) -> Flask:
        """The Flask app."""
        app = Flask("receiver")

        @app.post("/webhook")
        def webhook() -> Any:
            raw = request.get_data()
            header = request.headers.get("Stripe-Signature", "")
            try:
                event = stripe.Webhook.construct_event(raw, header, self.secret).to_dict()
            except (stripe.SignatureVerificationError, ValueError) as exc:
                return {"error": str(exc)}, 400
            with self.lock:
                self.calls += 1
                call = self.calls
            status = 200
            if call <= self.slow_first:
                self.released.wait(self.slow_seconds)  # held past the emulator's timeout, unless released
            elif call <= self.slow_first + self.fail_first:
                status = 500
            with self.lock:
                self.received.append({"event": event, "raw": raw, "headers": dict(request.headers),
                                      "status": status, "call": call})
            return {"received": True}, status

        return app
