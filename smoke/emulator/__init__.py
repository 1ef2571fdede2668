"""A local, stateful Stripe subset for offline runs: the API the SDKs use, hosted Checkout, signed webhooks."""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from smoke.emulator.checkout import PayResult
from smoke.emulator.delivery import Deliverer
from smoke.emulator.store import LAYOUTS, Settings, Store
from smoke.servers import LOOPBACK, RunningServer, serve, serve_until_interrupted

__all__ = ["PayResult", "RunningEmulator", "Store", "main_banner", "serve_forever", "start_emulator"]


@dataclass
class RunningEmulator:
    """A running emulator: its URL, a key it accepts, its state; stop it or use it as a context manager."""

    server: RunningServer
    store: Store
    api_key: str = field(default_factory=lambda: "sk_test_emulator_" + secrets.token_hex(12))

    @property
    def url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:12111`` (no trailing slash)."""
        return self.server.url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.server.port

    def stop(self) -> None:
        """Stop delivering, release requests held by a fault, and stop serving."""
        if self.store.deliverer is not None:
            self.store.deliverer.stop()
        book = self.server.app.config.get("FAULTS")
        if book is not None:
            book.stop()
        self.server.stop()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(port: int = 0, *, state_file: str | Path | None = None, layout: str = "accordion",
                   retry_base_seconds: float = 60.0, delivery_timeout: float = 10.0,
                   max_retries: int = 3, host: str = LOOPBACK, ssl_context: ssl.SSLContext | None = None) -> RunningEmulator:
    """Start an emulator on 127.0.0.1 (port 0 picks a free one; TLS with ``ssl_context``); each one has its own state."""
    from smoke.emulator.app import create_app

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    settings = Settings(layout=layout, retry_base_seconds=retry_base_seconds, delivery_timeout=delivery_timeout,
                        max_retries=max_retries)
    store = Store(state_file=Path(state_file) if state_file else None, settings=settings)
    store.deliverer = Deliverer(store)
    try:
        server = serve(create_app(store), port=port, name="stripe-emulator", host=host, ssl_context=ssl_context)
    except BaseException:
        store.deliverer.stop()
        raise
    store.base_url = server.url
    return RunningEmulator(server=server, store=store)


def main_banner(running: RunningEmulator) -> str:
    """What ``stripe-smoke emulator`` prints: where the API is, a key, and how to register a webhook endpoint."""
    url, key = running.url, running.api_key
    return f"""Local Stripe emulator (test mode, loopback only)
  API base:     {url}
  API key:      {key}   (any sk_test_… or rk_test_… key works)
  Checkout:     sessions' `url` open {url}/c/pay/<session id>
  Deliveries:   GET {url}/_emulator/deliveries · run retries now: POST {url}/_emulator/retries/fast-forward
  Outages:      POST {url}/_emulator/faults {{"calls": 3, "kind": "api_error"}} (or: stripe-smoke emulator fault --help)
  Clock:        POST {url}/_emulator/clock/advance {{"seconds": 2678400}} renews subscriptions that fall due

Register your webhook endpoint (the answer's `secret` is your STRIPE_WEBHOOK_SECRET):
  Python:
    import stripe
    client = stripe.StripeClient("{key}", base_addresses={{"api": "{url}"}})
    endpoint = client.v1.webhook_endpoints.create(params={{
        "url": "http://127.0.0.1:8000/api/webhooks/stripe", "enabled_events": ["*"]}})
    print(endpoint.secret)
  Node:
    const Stripe = require('stripe');
    const stripe = new Stripe('{key}', {{host: '127.0.0.1', port: {running.port}, protocol: 'http'}});
    const endpoint = await stripe.webhookEndpoints.create({{
      url: 'http://127.0.0.1:8000/api/webhooks/stripe', enabled_events: ['*']}});
    console.log(endpoint.secret);
  curl:
    curl {url}/v1/webhook_endpoints -u {key}: \\
      -d url=http://127.0.0.1:8000/api/webhooks/stripe -d "enabled_events[]=*"

Press Ctrl-C to stop."""


def serve_forever(port: int = 12111, *, state_file: str | Path | None = None, layout: str = "accordion") -> None:
    """Start the emulator, print the banner, and block until Ctrl-C."""
    running = start_emulator(port, state_file=state_file, layout=layout)
    print(main_banner(running), flush=True)
    serve_until_interrupted(running.stop)
