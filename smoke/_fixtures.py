"""Fixtures the suites use: settings, the profile, the running target, and the Smoke helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from smoke.config import Settings
from smoke.errors import ConfigError, SmokeError
from smoke.redact import Redactor
from smoke.settings_source import run_redactor

# The heavy parts (httpx, stripe, the reference targets) load when a check first needs them, so that
# installing the plugin costs other people's test sessions nothing.
if TYPE_CHECKING:
    from smoke.checkout.ahead import Ahead
    from smoke.checks import Smoke
    from smoke.embedded import Embedded
    from smoke.foundations import Foundations
    from smoke.profiles import Profile
    from smoke.target import TargetClient


@contextmanager
def _stop_on_bad_config(redactor: Redactor) -> Iterator[None]:
    """A configuration problem stops the whole run once, with its one-line message and exit code.

    In an xdist worker, ``pytest.exit`` would crash the worker (an INTERNALERROR on the controller): there the
    error fails each check's set-up instead, and the controller ends the run with its exit code (plugin.py)."""
    try:
        yield
    except SmokeError as exc:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            raise
        pytest.exit(f"stripe-smoke: {redactor.redact(str(exc))}", returncode=exc.exit_code)


@pytest.fixture(scope="session")
def smoke_redactor(pytestconfig: pytest.Config) -> Redactor:
    """The run's redactor: every secret the run learns joins it, and everything it reports passes through it."""
    return run_redactor(pytestconfig)


@pytest.fixture(scope="session")
def smoke_settings(pytestconfig: pytest.Config, smoke_redactor: Redactor) -> Settings:
    """The run's settings: options, then environment (and ``.env``), then pytest.ini/pyproject, then defaults."""
    from smoke.settings_source import settings_for

    with _stop_on_bad_config(smoke_redactor):
        settings, _ = settings_for(pytestconfig)
    return settings


@pytest.fixture(scope="session")
def smoke_profile(smoke_settings: Settings, smoke_redactor: Redactor) -> Profile:
    """The target's profile (``--target``)."""
    from smoke.profiles import load_profile

    with _stop_on_bad_config(smoke_redactor):
        return load_profile(smoke_settings.target)


@pytest.fixture(scope="session")
def smoke_embedded(smoke_settings: Settings, smoke_profile: Profile,
                   smoke_redactor: Redactor) -> Iterator[Embedded | None]:
    """The embedded target (and local Stripe) when no base URL is given; None against a real target."""
    from smoke.embedded import start_embedded

    if smoke_settings.base_url:
        yield None
        return
    with _stop_on_bad_config(smoke_redactor):
        if not smoke_profile.embedded:
            raise ConfigError(f"The {smoke_profile.name} profile has no embedded target; pass --base-url (or BASE_URL) "
                              "with the API's address.")
        running = start_embedded(smoke_profile, smoke_settings.webhook_secret)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def smoke_target(smoke_settings: Settings, smoke_profile: Profile, smoke_embedded: Embedded | None,
                 smoke_redactor: Redactor) -> Iterator[TargetClient]:
    """A client for the target (the embedded one when no base URL is given)."""
    from smoke.signing import check_webhook_secret
    from smoke.target import open_target

    settings = smoke_settings
    with _stop_on_bad_config(smoke_redactor):
        if smoke_embedded is not None:
            base_url, secret = smoke_embedded.base_url, smoke_embedded.webhook_secret
        else:
            base_url, secret = settings.base_url or "", check_webhook_secret(settings.webhook_secret)
        client = open_target(smoke_profile, base_url, webhook_secret=secret, http_timeout=settings.http_timeout,
                             rate_limit_per_minute=settings.rate_limit, patience=settings.timeout, redactor=smoke_redactor)
        if smoke_embedded is None:
            client.health()  # an unreachable target stops the run here, once (exit code 3)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def smoke_checkout_ahead(smoke_settings: Settings, smoke_profile: Profile, smoke_embedded: Embedded | None,
                         smoke_redactor: Redactor) -> Iterator[Ahead | None]:
    """Real Checkout's create and pay phases on a thread of their own (--phase all), else None.

    A serial run starts them with its first check (plugin.py), so the browser pays while the other checks run."""
    from smoke.checkout.ahead import Ahead, checkout_settings, phase_of, why_not

    if why_not(smoke_settings, smoke_profile, smoke_embedded) or phase_of(smoke_settings, smoke_embedded) != "all":
        yield None
        return
    settings = checkout_settings(smoke_settings, smoke_embedded)
    ahead = Ahead(settings, smoke_embedded.base_url if smoke_embedded is not None else settings.base_url or "",
                  smoke_redactor)
    try:
        yield ahead
    finally:
        ahead.wait(max(30.0, settings.timeout * 3) + settings.http_timeout)


@pytest.fixture(scope="session")
def smoke_foundations() -> Foundations:
    """The foundations the checks stand on (route, credit, dedupe), each probed once per session."""
    from smoke.foundations import Foundations

    return Foundations()


@pytest.fixture
def smoke(smoke_target: TargetClient, smoke_settings: Settings, smoke_foundations: Foundations,
          request: pytest.FixtureRequest) -> Iterator[Smoke]:
    """The helper a check works with; refuses simulated events against a production target, blocks on foundations."""
    from smoke.checks import Smoke
    from smoke.evidence import attach_evidence
    from smoke.foundations import FOUNDATIONS
    from smoke.verdicts import Blocked

    profile = smoke_target.profile
    if request.node.get_closest_marker("smoke_simulated") and (profile.production or smoke_settings.production) \
            and not smoke_settings.allow_production:
        pytest.skip("refused: the target is marked production and this check sends simulated payments; "
                    "pass --allow-production (SMOKE_ALLOW_PRODUCTION=true) if you really mean it")
    for marker in request.node.iter_markers("smoke_needs"):
        for capability in marker.args:
            if not profile.can(capability):
                pytest.skip(f"the {profile.name} profile says the target cannot do this: {_NEEDS.get(capability, capability)}")
    helper = Smoke(smoke_target, smoke_settings, smoke_foundations, node=request.node)
    first = smoke_target.exchange_seq + 1
    try:
        for marker in request.node.iter_markers("smoke_depends_on"):
            for name in marker.args:
                if name not in FOUNDATIONS:
                    raise ConfigError(f"@pytest.mark.smoke_depends_on({name!r}): there is no such foundation; use "
                                      f"one of {', '.join(FOUNDATIONS)}.")
                smoke_foundations.require(name, helper)
    except Blocked:
        attach_evidence(request.node, helper, [e for e in smoke_target.exchanges if e.seq >= first])
        raise
    smoke_target.begin_check()
    helper.first_exchange = first
    yield helper


# The capabilities ``@pytest.mark.smoke_needs(...)`` understands; any other is a usage error at collection.
NEEDS = _NEEDS = {
    "state": "it has no readable credit state ([state]), so a payment has no observable effect",
    "simulated_credit": "a simulated event alone does not credit it ([supports] simulated_credit = false)",
    "purchase": "it cannot start a purchase ([purchase])",
    "refunds": "it does not handle refunds ([supports] refunds)",
    "ledger": "it has no ledger ([supports] ledger)",
    "async_payments": "it does not take delayed payment methods ([supports] async_payments = false)",
}
