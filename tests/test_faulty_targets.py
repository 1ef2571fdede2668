"""Each check catches the fault it exists for, with a message naming it, and passes on a correct target."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.reference.topups import FAULTS
from smoke.servers import RunningServer

from _verdicts import other_causes_named, read_junit

# fault → (the check meant to catch it, the cause it must name, words its message must contain, extra options)
CAUGHT_BY: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "no_signature_check": ("test_forged_event_is_rejected and missing_header", "forgery_missing_header",
                           "does not check signatures", ()),
    "any_signature": ("test_forged_event_is_rejected and wrong_secret", "forgery_wrong_secret",
                      "does not verify the signature against its secret", ()),
    "no_timestamp_tolerance": ("test_forged_event_is_rejected and stale_timestamp", "forgery_stale_timestamp",
                               "no timestamp tolerance", ()),
    "loose_tolerance": ("test_forged_event_is_rejected and slightly_stale", "forgery_slightly_stale",
                        "looser than Stripe's 300 s", ()),
    "compares_prefix": ("test_forged_event_is_rejected and near_miss_signature", "forgery_near_miss_signature",
                        "compares only part of the v1 signature", ()),
    "accepts_truncated": ("test_forged_event_is_rejected and truncated_signature", "forgery_truncated_signature",
                          "accepts a v1 value that is a prefix", ()),
    "accepts_v0": ("test_forged_event_is_rejected and v0_only", "forgery_v0_only", "accepts the v0 scheme", ()),
    "catch_all_200": ("test_forged_event_is_rejected and wrong_secret", "acknowledges_rejection", "answer 2xx anyway", ()),
    "crashes_on_bad_header": ("test_forged_event_is_rejected and malformed_header", "crashes_on_forgery",
                              "crashes instead of rejecting", ()),
    "crashes_on_rotation": ("test_rotated_secret_is_accepted", "crashes_on_rotation",
                            "header parsing fails on two v1 values", ()),
    "first_v1_only": ("test_rotated_secret_is_accepted", "rejects_rotation", "was rejected (HTTP", ()),
    "reserialized_body": ("test_signed_event_credits_exact_amount", "reserialized_body", "re-serialised body", ()),
    "no_dedupe": ("test_redelivery_credits_once", "no_dedupe", "does not dedupe on the event id", ()),
    "check_then_insert": ("test_concurrent_duplicates_credit_once", "dedupe_race", "check-then-insert race", ()),
    "lost_update": ("test_payment_burst_credits_every_payment", "lost_update", "read-modify-write of the balance",
                    ("--burst", "20")),
    "busy_503": ("test_payment_burst_credits_every_payment", "burst_errors", "fails under this load", ("--burst", "20")),
    "credits_unpaid": ("test_event_does_not_credit and unpaid_session", "credits_unpaid_session", "unpaid session", ()),
    "credits_failed_payment": ("test_event_does_not_credit and failed_payment", "credits_failed_payment",
                               "failed payment", ()),
    "credits_every_success": ("test_payment_event_sequence_credits_once", "credits_several_types",
                              "credits on more than one", ()),
    "wrong_amount": ("test_signed_event_credits_exact_amount", "wrong_amount", "credited the wrong amount", ()),
    "error_on_unknown": ("test_event_does_not_credit and unknown_type", "crashes_on_non_crediting",
                         "acknowledge events you do not act on", ()),
    "error_on_bad_json": ("test_bad_body_is_refused_cleanly and not_json", "crashes_on_bad_body", "crashes on bad input", ()),
    "slow_ack": ("test_acknowledges_within_window", "slow_ack", "to acknowledge", ("--ack-seconds", "0.3")),
    "ack_without_credit": ("test_signed_event_credits_exact_amount", "credited_elsewhere", "this credit is lost", ()),
    "acknowledges_everything": ("test_signed_event_credits_exact_amount", "acknowledges_everything",
                                "acknowledges everything", ()),
    "records_before_processing": ("test_signed_event_credits_exact_amount", "records_before_processing",
                                  "records the event before processing it", ()),
    "records_first": ("test_credit_survives_a_failed_first_delivery", "records_before_processing",
                      "the retry is taken for a duplicate", ()),
    "drops_on_hold": ("test_credit_survives_a_failed_first_delivery", "acknowledged_during_failure",
                      "a 2xx is never retried", ()),
    "ignores_refunds": ("test_refund_reverses_the_credit", "ignores_refunds", "ignores charge.refunded", ()),
    "credits_wrong_account": ("test_signed_event_credits_exact_amount", "credited_elsewhere",
                              "credited another account or none", ()),
}


def test_every_fault_has_a_check() -> None:
    """No faulty variant is left without the check that catches it."""
    from test_failure_paths import CAUGHT_BY as FAILURE_PATHS  # the failure-path drills' faults are tested there

    assert set(CAUGHT_BY) | set(FAILURE_PATHS) == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_check_catches_fault(fault: str, start_topups: Callable[..., RunningServer], tmp_path: Path,
                             run_suites: Callable[..., pytest.RunResult]) -> None:
    """The check meant for ``fault`` fails naming that cause and no other, and passes against a correct target."""
    check, cause, words, extra = CAUGHT_BY[fault]
    faulty = start_topups(fault, slow_seconds=0.8)
    result = run_suites("-k", check, *extra, f"--junitxml={tmp_path / 'faulty.xml'}", base_url=faulty.url)
    cases = read_junit(tmp_path / "faulty.xml")
    failures = {name: case for name, case in cases.items() if case.verdict == "failed"}
    assert failures, result.stdout.str()
    assert {case.cause for case in failures.values()} == {cause}, failures
    for case in failures.values():
        assert words in case.message, case.message
        assert other_causes_named(case.message, cause) == [], case.message

    correct = start_topups()
    result = run_suites("-k", check, *extra, base_url=correct.url)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("passed", 0) >= 1


def test_demo_is_green_and_names_each_check(run_suites: Callable[..., pytest.RunResult]) -> None:
    """With no base URL the embedded demo starts and every check passes, each listed by name."""
    result = run_suites("-v")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == outcomes.get("errors", 0) == 0 and outcomes["passed"] >= 32, outcomes
    for name in ("test_api_answers", "test_signed_event_credits_exact_amount", "test_concurrent_duplicates_credit_once",
                 "test_forged_event_is_rejected[stale_timestamp]", "test_event_does_not_credit[unknown_type]"):
        result.stdout.re_match_lines([rf".*{re.escape(name)} PASSED.*"])


def test_a_failure_then_a_successful_redelivery_is_fine(start_topups: Callable[..., RunningServer],
                                                         run_suites: Callable[..., pytest.RunResult]) -> None:
    """A target that fails once and credits on Stripe's redelivery passes the credit check."""
    flaky = start_topups("transient_failure")
    result = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=flaky.url)
    assert result.ret == 0, result.stdout.str()


@pytest.mark.parametrize("fault", ["records_first", "drops_on_hold"])
def test_transient_drill_gives_the_same_verdict_under_xdist(fault: str, start_topups: Callable[..., RunningServer],
                                                            tmp_path: Path, run_suites: Callable[..., pytest.RunResult]) -> None:
    """The transient-failure drill names the same cause in a serial run and under ``-n 2``."""
    check, cause, _, _ = CAUGHT_BY[fault]
    faulty = start_topups(fault)
    verdicts = []
    for name, extra in (("serial", ()), ("xdist", ("-n", "2"))):
        run_suites("-k", check, *extra, f"--junitxml={tmp_path / name}.xml", base_url=faulty.url)
        cases = read_junit(tmp_path / f"{name}.xml")
        verdicts.append({case_name: (case.verdict, case.cause) for case_name, case in cases.items()})
    assert verdicts[0] == verdicts[1] and set(verdicts[0].values()) == {("failed", cause)}, verdicts
