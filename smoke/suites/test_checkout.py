"""Real Checkout: create a session through the target, pay it, and verify the credit (or one phase of it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke import phases
from smoke.checkout.ahead import Ahead, checkout_settings, phase_of, why_not
from smoke.checks import fail
from smoke.config import Settings
from smoke.embedded import Embedded
from smoke.profiles import Profile
from smoke.redact import Redactor


def test_checkout_payment_is_credited(smoke_settings: Settings, smoke_profile: Profile,
                                      smoke_embedded: Embedded | None, smoke_checkout_ahead: Ahead | None,
                                      smoke_redactor: Redactor, capsys: pytest.CaptureFixture[str]) -> None:
    """Create a Checkout Session through the target, pay it, and see exactly one credit (per --phase)."""
    reason = why_not(smoke_settings, smoke_profile, smoke_embedded)
    if reason:
        pytest.skip(reason)
    phase = phase_of(smoke_settings, smoke_embedded)
    settings = checkout_settings(smoke_settings, smoke_embedded)
    base_url = smoke_embedded.base_url if smoke_embedded is not None else settings.base_url or ""
    if phase == "verify-only":
        if not settings.receipt_file:
            pytest.fail("--phase verify-only needs SMOKE_RECEIPT_FILE (or --receipt-file): the receipt create-only wrote.",
                        pytrace=False)
        receipt_path = Path(settings.receipt_file)
    elif phase == "create-only":
        _, receipt_path = phases.create(settings, base_url, redactor=smoke_redactor)
        with capsys.disabled():
            print(f"\nreceipt written: {receipt_path}")
        return
    else:
        assert smoke_checkout_ahead is not None  # phase all: the fixture started create and pay (at the latest, now)
        done = smoke_checkout_ahead.result()
        print(done.printed, end="")
        receipt_path, paid = done.receipt_path, done.paid
        if paid.status != "succeeded":
            fail(f"The {paid.payer} payer could not pay the session: {paid.message}"
                 + (f" (artifacts: {', '.join(map(str, paid.artifacts))})" if paid.artifacts else ""))
    verdict = phases.verify(receipt_path, settings, deadline=settings.verify_deadline if phase == "verify-only" else settings.timeout,
                            redactor=smoke_redactor)
    if verdict.code != "verified":
        fail(f"{verdict.code.replace('_', ' ')}: {verdict.message}")
