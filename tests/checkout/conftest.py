"""Fixtures for the Checkout driver's tests: one browser and one emulator for the run, a success-URL receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from flask import Flask, request

from smoke.emulator import RunningEmulator, start_emulator
from smoke.errors import ConfigError
from smoke.servers import RunningServer, serve


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for every test (a context per payment keeps them apart); skips when none is installed."""
    from smoke.checkout.browser import launch, start_playwright

    playwright = start_playwright()
    try:
        try:
            launched = launch(playwright)
        except ConfigError as exc:
            pytest.skip(str(exc))
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """The real emulator, its page included; each test makes its own sessions, so it is shared."""
    with start_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def client(emulator: RunningEmulator) -> stripe.StripeClient:
    """The official SDK aimed at the emulator."""
    return stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url}, max_network_retries=0)


@dataclass
class Receiver:
    """A merchant's success page on loopback: it records the paths it was sent to."""

    server: RunningServer
    hits: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Its base URL."""
        return self.server.url

    def seen(self) -> list[str]:
        """The full paths (with query) requested so far."""
        with self.lock:
            return list(self.hits)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A loopback success page for ``success_url``."""
    app = Flask("checkout-success-receiver")
    holder: list[Receiver] = []

    @app.get("/thanks")
    def thanks() -> str:
        with holder[0].lock:
            holder[0].hits.append(request.full_path)
        return "<h1>Thanks for your order</h1>"

    running = Receiver(serve(app, name="success-receiver"))
    holder.append(running)
    yield running
    running.server.stop()


@pytest.fixture
def make_session(client: stripe.StripeClient, receiver: Receiver) -> Callable[..., Any]:
    """Create a $5.00 payment-mode Checkout Session through the SDK, with page options in its metadata."""

    def make(layout: str = "accordion", challenge: str | None = None, **extra: Any) -> Any:
        metadata = {"smoke_layout": layout, **({"smoke_challenge": challenge} if challenge else {})}
        params = {"mode": "payment", "success_url": receiver.url + "/thanks?session_id={CHECKOUT_SESSION_ID}",
                  "cancel_url": receiver.url + "/cancel", "metadata": metadata,
                  "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500,
                                                 "product_data": {"name": "500 credits"}}, "quantity": 1}],
                  **extra}
        return client.v1.checkout.sessions.create(params=params)

    return make
