"""Fixtures the suites use: settings, the profile, the running target, and the Smoke helper."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from smoke.checks import Smoke
from smoke.evidence import attach_evidence
from smoke.config import OPTIONS, Settings, load_env_file, resolve_settings
from smoke.errors import ConfigError, SmokeError
from smoke.profiles import Profile, load_profile
from smoke.redact import REDACTOR
from smoke.signing import check_webhook_secret
from smoke.target import TargetClient, open_target


@contextmanager
def _stop_on_bad_config() -> Iterator[None]:
    """A configuration problem stops the whole run once, with its one-line message and exit code."""
    try:
        yield
    except SmokeError as exc:
        pytest.exit(f"stripe-smoke: {REDACTOR.redact(str(exc))}", returncode=exc.exit_code)


@pytest.fixture(scope="session")
def smoke_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings: options, then environment (and ``.env``), then defaults."""
    with _stop_on_bad_config():
        load_env_file(pytestconfig.getoption("smoke_env_file"))
        given = {o.name: pytestconfig.getoption(f"smoke_{o.name}") for o in OPTIONS}
        settings = resolve_settings(given)
    for option in OPTIONS:
        if option.secret:
            REDACTOR.add(getattr(settings, option.name))
    return settings


@pytest.fixture(scope="session")
def smoke_profile(smoke_settings: Settings) -> Profile:
    """The target's profile (``--target``)."""
    with _stop_on_bad_config():
        return load_profile(smoke_settings.target)


@pytest.fixture(scope="session")
def smoke_target(smoke_settings: Settings, smoke_profile: Profile) -> Iterator[TargetClient]:
    """A client for the target; starts the profile's embedded target when no base URL is given."""
    with _stop_on_bad_config():
        server, client = _start_target(smoke_settings, smoke_profile)
    try:
        yield client
    finally:
        client.close()
        if server is not None:
            server.stop()


def _start_target(settings: Settings, profile: Profile) -> tuple[Any, TargetClient]:
    server: Any = None
    if settings.base_url:
        base_url = settings.base_url
        secret = check_webhook_secret(settings.webhook_secret)
    else:
        if not profile.embedded:
            raise ConfigError(f"The {profile.name} profile has no embedded target; pass --base-url (or BASE_URL) with the API's address.")
        from smoke.reference import embedded

        secret = settings.webhook_secret or "whsec_" + secrets.token_urlsafe(24)
        check_webhook_secret(secret)
        server = embedded(profile.embedded)(secret)
        base_url = server.url
    try:
        client = open_target(profile, base_url, webhook_secret=secret, http_timeout=settings.http_timeout,
                             rate_limit_per_minute=settings.rate_limit)
        if settings.base_url:
            client.health()  # an unreachable target stops the run here, once (exit code 3)
    except BaseException:
        if server is not None:
            server.stop()
        raise
    return server, client


@pytest.fixture
def smoke(smoke_target: TargetClient, smoke_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Smoke]:
    """The helper a check works with; refuses simulated events against a production target."""
    profile = smoke_target.profile
    if request.node.get_closest_marker("simulated") and (profile.production or smoke_settings.production) \
            and not smoke_settings.allow_production:
        pytest.skip("refused: the target is marked production and this check sends simulated payments; "
                    "pass --allow-production (SMOKE_ALLOW_PRODUCTION=true) if you really mean it")
    for marker in request.node.iter_markers("needs"):
        for capability in marker.args:
            if not profile.can(capability):
                pytest.skip(f"the {profile.name} profile says the target cannot do this: {_NEEDS.get(capability, capability)}")
    helper = Smoke(smoke_target, smoke_settings)
    first = smoke_target.exchange_seq + 1
    yield helper
    attach_evidence(request.node, helper, [e for e in smoke_target.exchanges if e.seq >= first])


_NEEDS = {
    "state": "it has no readable credit state ([state])",
    "simulated_credit": "a simulated event alone does not credit it ([supports] simulated_credit = false)",
    "purchase": "it cannot start a purchase ([purchase])",
    "refunds": "it does not handle refunds ([supports] refunds)",
    "ledger": "it has no ledger ([supports] ledger)",
}
