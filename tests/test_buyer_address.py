"""The default buyer address: one that common validators accept (pydantic's EmailStr uses email-validator) but that
can never reach a real person (example.com is reserved by RFC 2606), and unique per run."""

from __future__ import annotations

import secrets

import email_validator  # the dev extra
import pytest

from smoke.events import Payment
from smoke.profiles import builtin_profiles, load_profile
from smoke.reference import embedded
from smoke.target import TargetClient

RESERVED = ("example.com", "example.net", "example.org")


def _addresses(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The profile's vars whose default resolves to an e-mail address (its environment variables unset)."""
    profile = load_profile(name)
    for var in profile.vars.values():
        if var.env:
            monkeypatch.delenv(var.env, raising=False)
    client = TargetClient(profile, "http://127.0.0.1:9", webhook_secret=None)
    client.close()
    return {key: value for key, value in client.results["var"].items() if isinstance(value, str) and "@" in value}


def test_every_shipped_buyer_address_is_valid_reserved_and_unique_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    found = 0
    for name in builtin_profiles():
        first, second = _addresses(name, monkeypatch), _addresses(name, monkeypatch)
        for key, address in first.items():
            found += 1
            checked = email_validator.validate_email(address, check_deliverability=False)
            assert checked.domain in RESERVED, (name, key, address)
            assert address != second[key], (name, key, address)  # ${run:id}: never the same buyer twice
    assert found >= 3  # demo, topups, subscriptions


def test_code_defaults_are_valid_addresses() -> None:
    """The address the simulated events carry when a profile has no e-mail var."""
    assert email_validator.validate_email(Payment(amount=500).email, check_deliverability=False).domain in RESERVED


@pytest.mark.parametrize("name", ["demo", "subscriptions"])
def test_reference_targets_register_the_default_address(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference targets accept the new form: the [buyer] step registers it."""
    for key in ("SMOKE_BUYER_EMAIL", "SMOKE_BUYER_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    profile = load_profile(name)
    assert profile.buyer is not None and profile.embedded
    server = embedded(profile.embedded)("whsec_" + secrets.token_urlsafe(24))
    client = TargetClient(profile, server.url, webhook_secret=None, http_timeout=5)
    try:
        client.run_step(profile.buyer, authed=False)
        assert client.exchanges[-1].status == 201 and client.results["var"]["email"].endswith("@example.com")
    finally:
        client.close()
        server.stop()
