"""Each check catches the fault it exists for, with a message naming it, and passes on a correct target."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from smoke.reference.topups import FAULTS
from smoke.servers import RunningServer

# fault → (the check meant to catch it, words its failure message must contain, extra options)
CAUGHT_BY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "no_signature_check": ("test_forged_event_is_rejected and missing_header", "does not check signatures", ()),
    "any_signature": ("test_forged_event_is_rejected and wrong_secret", "does not verify the signature against its secret", ()),
    "no_timestamp_tolerance": ("test_forged_event_is_rejected and stale_timestamp", "no timestamp tolerance", ()),
    "accepts_v0": ("test_forged_event_is_rejected and v0_only", "accepts the v0 scheme", ()),
    "crashes_on_bad_header": ("test_forged_event_is_rejected and malformed_header", "crashes instead of rejecting", ()),
    "reserialized_body": ("test_signed_event_credits_exact_amount", "re-serialised body", ()),
    "no_dedupe": ("test_redelivery_credits_once", "does not dedupe on the event id", ()),
    "check_then_insert": ("test_concurrent_duplicates_credit_once", "check-then-insert race", ()),
    "credits_unpaid": ("test_event_does_not_credit and unpaid_session", "unpaid session", ()),
    "credits_failed_payment": ("test_event_does_not_credit and failed_payment", "failed payment", ()),
    "credits_every_success": ("test_payment_event_sequence_credits_once", "credits on more than one", ()),
    "wrong_amount": ("test_signed_event_credits_exact_amount", "credited the wrong amount", ()),
    "error_on_unknown": ("test_event_does_not_credit and unknown_type", "acknowledge events you do not act on", ()),
    "error_on_bad_json": ("test_bad_body_is_refused_cleanly and not_json", "crashes on bad input", ()),
    "slow_ack": ("test_acknowledges_within_window", "to acknowledge", ("--ack-seconds", "0.3")),
    "ack_without_credit": ("test_signed_event_credits_exact_amount", "this credit is lost", ()),
    "records_before_processing": ("test_signed_event_credits_exact_amount", "records the event before processing it", ()),
    "ignores_refunds": ("test_refund_reverses_the_credit", "ignores charge.refunded", ()),
    "credits_wrong_account": ("test_signed_event_credits_exact_amount", "this credit is lost", ()),
}


def test_every_fault_has_a_check() -> None:
    """No faulty variant is left without the check that catches it."""
    assert set(CAUGHT_BY) == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_check_catches_fault(fault: str, start_topups: Callable[..., RunningServer],
                             run_suites: Callable[..., pytest.RunResult]) -> None:
    """The check meant for ``fault`` fails against the faulty target and passes against a correct one."""
    check, words, extra = CAUGHT_BY[fault]
    faulty = start_topups(fault, slow_seconds=0.8)
    result = run_suites("-k", check, *extra, base_url=faulty.url)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert words in result.stdout.str(), result.stdout.str()

    correct = start_topups()
    result = run_suites("-k", check, *extra, base_url=correct.url)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("passed", 0) >= 1


def test_demo_is_green_and_names_each_check(run_suites: Callable[..., pytest.RunResult]) -> None:
    """With no base URL the embedded demo starts and every check passes, each listed by name."""
    result = run_suites("-v")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == outcomes.get("errors", 0) == 0 and outcomes["passed"] >= 22, outcomes
    for name in ("test_api_answers", "test_signed_event_credits_exact_amount", "test_concurrent_duplicates_credit_once",
                 "test_forged_event_is_rejected[stale_timestamp]", "test_event_does_not_credit[unknown_type]"):
        result.stdout.re_match_lines([rf".*{re.escape(name)} PASSED.*"])


def test_a_failure_then_a_successful_redelivery_is_fine(start_topups: Callable[..., RunningServer],
                                                         run_suites: Callable[..., pytest.RunResult]) -> None:
    """A target that fails once and credits on Stripe's redelivery passes the credit check."""
    flaky = start_topups("transient_failure")
    result = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=flaky.url)
    assert result.ret == 0, result.stdout.str()
