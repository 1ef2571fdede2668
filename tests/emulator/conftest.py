"""Fixtures for the emulator's tests: a fresh emulator, a client for it, and webhook receivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe
from _emulator_receiver import Receiver

from smoke.emulator import RunningEmulator, start_emulator
from smoke.servers import serve

FAST = {"layout": "accordion", "retry_base_seconds": 0.05, "delivery_timeout": 2.0, "max_retries": 3}


@pytest.fixture(scope="session")
def _shared_emulator() -> Iterator[RunningEmulator]:
    with start_emulator(**FAST) as running:
        yield running


@pytest.fixture
def emulator(_shared_emulator: RunningEmulator) -> RunningEmulator:
    """An emptied emulator (reset between tests: stopping a server costs half a second); retries are fast."""
    _shared_emulator.store.reset()
    _shared_emulator.store.settings.update(FAST)
    return _shared_emulator


@pytest.fixture
def client(emulator: RunningEmulator) -> stripe.StripeClient:
    """The official SDK aimed at the emulator (no SDK retries: the tests want to see every answer)."""
    return stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url}, max_network_retries=0)


@pytest.fixture
def control(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """An httpx client for the emulator's ``/_emulator`` control API."""
    with httpx.Client(base_url=emulator.url, timeout=10) as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start receivers (``port=`` to bring one up where an endpoint already points); stopped after the test."""
    started: list[Receiver] = []

    def start(port: int = 0, **options: Any) -> Receiver:
        rec = Receiver(**options)
        rec.server = serve(rec.app(), port=port, name="receiver")
        started.append(rec)
        return rec

    yield start
    for rec in started:
        assert rec.server is not None
        rec.server.stop()
