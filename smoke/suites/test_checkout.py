"""Real Checkout: create a session through the target, pay it, and verify the credit (or one phase of it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from smoke import phases
from smoke.checks import fail
from smoke.config import Settings
from smoke.embedded import Embedded
from smoke.profiles import Profile


def _settings(settings: Settings, embedded: Embedded | None) -> Settings:
    if embedded is None:
        return settings
    return dataclasses.replace(settings, stripe_api_key=settings.stripe_api_key or embedded.stripe_api_key,
                               stripe_api_base=settings.stripe_api_base or embedded.stripe_api_base)


def test_checkout_payment_is_credited(smoke_settings: Settings, smoke_profile: Profile,
                                      smoke_embedded: Embedded | None, capsys: pytest.CaptureFixture[str]) -> None:
    """Create a Checkout Session through the target, pay it, and see exactly one credit (per --phase)."""
    phase = smoke_settings.phase or ("all" if smoke_embedded is not None and smoke_embedded.emulator else "off")
    if phase == "off":
        pytest.skip("real Checkout is opt-in against a deployed target: pass --phase all, create-only or verify-only")
    if not smoke_profile.can("purchase") and phase != "verify-only":
        pytest.skip(f"the {smoke_profile.name} profile cannot start a purchase ([purchase])")
    if smoke_profile.purchase is not None and "checkout_url" not in smoke_profile.purchase.extract:
        pytest.skip("the purchase is a bare PaymentIntent, not a Checkout Session: test_payment_intent covers it")
    settings = _settings(smoke_settings, smoke_embedded)
    base_url = smoke_embedded.base_url if smoke_embedded is not None else settings.base_url or ""
    if phase == "verify-only":
        if not settings.receipt_file:
            pytest.fail("--phase verify-only needs SMOKE_RECEIPT_FILE (or --receipt-file): the receipt create-only wrote.",
                        pytrace=False)
        receipt_path = Path(settings.receipt_file)
    else:
        _, receipt_path = phases.create(settings, base_url)
        if phase == "create-only":
            with capsys.disabled():
                print(f"\nreceipt written: {receipt_path}")
            return
        paid = phases.pay(receipt_path, settings, via=settings.payer, card=settings.card, deadline=settings.verify_deadline)
        if paid.status != "succeeded":
            fail(f"The {paid.payer} payer could not pay the session: {paid.message}"
                 + (f" (artifacts: {', '.join(map(str, paid.artifacts))})" if paid.artifacts else ""))
    verdict = phases.verify(receipt_path, settings, deadline=settings.verify_deadline if phase == "verify-only" else settings.timeout)
    if verdict.code != "verified":
        fail(f"{verdict.code.replace('_', ' ')}: {verdict.message}")
