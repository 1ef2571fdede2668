"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

import smoke.suites
from smoke.embedded import Embedded, start_embedded
from smoke.profiles import load_profile
from smoke.reference import embedded, topups
from smoke.servers import RunningServer

pytest_plugins = ["pytester"]

SUITES = str(Path(smoke.suites.__file__).parent)


@pytest.fixture
def webhook_secret() -> str:
    """A fresh endpoint secret."""
    return "whsec_" + secrets.token_urlsafe(24)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def _stopped_after(start: Callable[..., S]) -> Iterator[Callable[..., S]]:
    """A fixture's body: hand the test ``start``, and stop everything it started when the test ends."""
    started: list[S] = []

    def tracked(*args: Any, **kwargs: Any) -> S:
        started.append(start(*args, **kwargs))
        return started[-1]

    yield tracked
    for running in started:
        running.stop()


@pytest.fixture
def start_topups(webhook_secret: str) -> Iterator[Callable[..., RunningServer]]:
    """Start the top-ups reference target (optionally with faults); stopped after the test."""
    yield from _stopped_after(lambda *faults, **options: topups.start(webhook_secret, faults=set(faults), **options))


@pytest.fixture
def start_style(webhook_secret: str) -> Iterator[Callable[..., RunningServer]]:
    """Start any reference target by its embedded name (optionally with faults); stopped after the test."""
    yield from _stopped_after(lambda name, *faults: embedded(name)(webhook_secret, faults=frozenset(faults)))


@pytest.fixture
def stack() -> Iterator[Callable[..., Embedded]]:
    """Start a profile's reference target (with faults) wired to its own local Stripe, as a deployment would be."""
    yield from _stopped_after(lambda *faults, profile="demo": start_embedded(load_profile(profile), faults=set(faults)))


@pytest.fixture
def run_suites(pytester: pytest.Pytester, webhook_secret: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., pytest.RunResult]:
    """Run the smoke suites in a fresh pytest session against ``base_url`` (or the embedded demo)."""

    def run(*args: str, base_url: str | None = None, target: str = "demo", secret: str | None = None) -> pytest.RunResult:
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", secret or webhook_secret)
        # hypothesis's plugin would import all of hypothesis at the end of every in-process run (~1 s each).
        options = [SUITES, "--target", target, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rA",
                   "--settle-seconds", "0.2", "--smoke-timeout", "3"]
        if base_url:
            options += ["--base-url", base_url]
        return pytester.runpytest_inprocess(*options, *args)

    return run


@pytest.fixture(scope="session")
def node_stripe() -> str:
    """A folder where ``require('stripe')`` works (the npm package installed once); skips without Node."""
    import shutil

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to check against stripe-node; install nodejs")
    from _node import node_stripe_dir

    return str(node_stripe_dir())
