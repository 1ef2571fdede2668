"""Fixtures the suites use: settings, the profile, the running target, and the Smoke helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from smoke.checks import Smoke
from smoke.embedded import Embedded, start_embedded
from smoke.evidence import attach_evidence
from smoke.config import OPTIONS, Settings, load_env_file, resolve_settings
from smoke.errors import ConfigError, SmokeError
from smoke.foundations import FOUNDATIONS, Foundations
from smoke.profiles import Profile, load_profile
from smoke.verdicts import Blocked
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
def smoke_embedded(smoke_settings: Settings, smoke_profile: Profile) -> Iterator[Embedded | None]:
    """The embedded target (and local Stripe) when no base URL is given; None against a real target."""
    if smoke_settings.base_url:
        yield None
        return
    with _stop_on_bad_config():
        if not smoke_profile.embedded:
            raise ConfigError(f"The {smoke_profile.name} profile has no embedded target; pass --base-url (or BASE_URL) "
                              "with the API's address.")
        running = start_embedded(smoke_profile, smoke_settings.webhook_secret)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def smoke_target(smoke_settings: Settings, smoke_profile: Profile, smoke_embedded: Embedded | None) -> Iterator[TargetClient]:
    """A client for the target (the embedded one when no base URL is given)."""
    settings = smoke_settings
    with _stop_on_bad_config():
        if smoke_embedded is not None:
            base_url, secret = smoke_embedded.base_url, smoke_embedded.webhook_secret
        else:
            base_url, secret = settings.base_url or "", check_webhook_secret(settings.webhook_secret)
        client = open_target(smoke_profile, base_url, webhook_secret=secret, http_timeout=settings.http_timeout,
                             rate_limit_per_minute=settings.rate_limit)
        if smoke_embedded is None:
            client.health()  # an unreachable target stops the run here, once (exit code 3)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def smoke_foundations() -> Foundations:
    """The foundations the checks stand on (route, credit, dedupe), each probed once per session."""
    return Foundations()


@pytest.fixture
def smoke(smoke_target: TargetClient, smoke_settings: Settings, smoke_foundations: Foundations,
          request: pytest.FixtureRequest) -> Iterator[Smoke]:
    """The helper a check works with; refuses simulated events against a production target, blocks on foundations."""
    profile = smoke_target.profile
    if request.node.get_closest_marker("simulated") and (profile.production or smoke_settings.production) \
            and not smoke_settings.allow_production:
        pytest.skip("refused: the target is marked production and this check sends simulated payments; "
                    "pass --allow-production (SMOKE_ALLOW_PRODUCTION=true) if you really mean it")
    for marker in request.node.iter_markers("needs"):
        for capability in marker.args:
            if not profile.can(capability):
                pytest.skip(f"the {profile.name} profile says the target cannot do this: {_NEEDS.get(capability, capability)}")
    helper = Smoke(smoke_target, smoke_settings, smoke_foundations)
    first = smoke_target.exchange_seq + 1
    try:
        for marker in request.node.iter_markers("depends_on"):
            for name in marker.args:
                if name not in FOUNDATIONS:
                    raise ConfigError(f"@pytest.mark.depends_on({name!r}): there is no such foundation; use one of "
                                      f"{', '.join(FOUNDATIONS)}.")
                smoke_foundations.require(name, helper)
    except Blocked:
        attach_evidence(request.node, helper, [e for e in smoke_target.exchanges if e.seq >= first])
        raise
    smoke_target.begin_check()
    yield helper
    attach_evidence(request.node, helper, [e for e in smoke_target.exchanges if e.seq >= first])


_NEEDS = {
    "state": "it has no readable credit state ([state]), so a payment has no observable effect",
    "simulated_credit": "a simulated event alone does not credit it ([supports] simulated_credit = false)",
    "purchase": "it cannot start a purchase ([purchase])",
    "refunds": "it does not handle refunds ([supports] refunds)",
    "ledger": "it has no ledger ([supports] ledger)",
}
