"""Verdicts from evidence: one root cause fails one check and blocks its dependents; inconclusive is not a defect."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.reference import embedded
from smoke.servers import RunningServer

from _verdicts import other_causes_named, read_junit

# The checks that stand on nothing but the target answering: never blocked.
UNGATED = {"test_api_answers", "test_webhook_route_exists", "test_webhook_secret_looks_right",
           "test_checkout_payment_is_credited", "test_confirmed_payment_intent_credits_exact_amount"}


def _run(run_suites: Callable[..., pytest.RunResult], tmp_path: Path, *args: str, **kwargs: object) -> tuple[pytest.RunResult, dict]:
    junit = tmp_path / f"run{len(list(tmp_path.glob('run*.xml')))}.xml"
    result = run_suites(*args, f"--junitxml={junit}", **kwargs)
    return result, read_junit(junit)


def _only_failure(cases: dict) -> tuple[str, object]:
    failures = [(name, case) for name, case in cases.items() if case.verdict == "failed"]
    assert len(failures) == 1, failures
    return failures[0]


@pytest.mark.parametrize("cause", ["acknowledges_everything", "wrong_secret"])
def test_one_root_cause_fails_one_check_and_blocks_the_rest(
        cause: str, start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult],
        tmp_path: Path) -> None:
    """A webhook that acknowledges everything, or a harness holding the wrong secret: one failure, the rest blocked."""
    if cause == "acknowledges_everything":
        server = start_topups("acknowledges_everything")
        secret = None
    else:
        server = start_topups()
        secret = "whsec_" + "9" * 32  # not the endpoint's
    result, cases = _run(run_suites, tmp_path, "--alluredir", str(tmp_path / "allure"), base_url=server.url,
                         secret=secret)
    assert result.ret == 1, result.stdout.str()
    name, failure = _only_failure(cases)
    assert name == "test_signed_event_credits_exact_amount" and failure.cause == cause, failure
    assert other_causes_named(failure.message, cause) == [], failure.message
    blocked = {n for n, c in cases.items() if c.verdict == "blocked"}
    gated = {n for n in cases if n.split("[")[0] not in UNGATED and n != name and cases[n].verdict != "skipped"}
    assert blocked == gated and len(blocked) >= 20, {n: c.verdict for n, c in cases.items()}
    for blocked_name in blocked:
        assert cases[blocked_name].message.startswith("blocked: test_signed_event_credits_exact_amount failed")
    # The table and Allure carry the same verdicts.
    table = result.stdout.str().split("stripe-smoke summary")[-1]
    assert table.count(" blocked ") >= len(blocked), table
    statuses = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    allure_blocked = [r for r in statuses if r["status"] == "skipped" and
                      "Blocked: blocked: test_signed_event_credits_exact_amount failed"
                      in r.get("statusDetails", {}).get("message", "")]
    assert len(allure_blocked) == len(blocked), [r.get("statusDetails") for r in statuses]


def test_no_dedupe_fails_redelivery_and_blocks_what_stands_on_it(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """No dedupe at all: the redelivery check names it; concurrency and refunds are blocked, not blamed."""
    server = start_topups("no_dedupe")
    result, cases = _run(run_suites, tmp_path, base_url=server.url)
    assert result.ret == 1
    name, failure = _only_failure(cases)
    assert name == "test_redelivery_credits_once" and failure.cause == "no_dedupe", failure
    assert cases["test_concurrent_duplicates_credit_once"].verdict == "blocked"
    assert cases["test_refund_reverses_the_credit"].verdict == "blocked"
    assert cases["test_forged_event_is_rejected[wrong_secret]"].verdict == "passed"


def test_a_dedupe_race_is_not_called_missing_dedupe(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """Check-then-insert: sequential redelivery is fine, concurrent copies credit twice — named a race."""
    server = start_topups("check_then_insert")
    result, cases = _run(run_suites, tmp_path, "-k", "redelivery or concurrent", base_url=server.url)
    assert cases["test_redelivery_credits_once"].verdict == "passed", result.stdout.str()
    race = cases["test_concurrent_duplicates_credit_once"]
    assert race.verdict == "failed" and race.cause == "dedupe_race"
    assert other_causes_named(race.message, "dedupe_race") == [], race.message


def test_old_api_version_handler_gets_the_version_diagnosis(
        webhook_secret: str, run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """A handler reading charges.data (written before 2022-11-15), sent today's shape: told which version credits."""
    server = embedded("invoices")(webhook_secret)
    try:
        result, cases = _run(run_suites, tmp_path, "-k", "test_signed_event_credits_exact_amount",
                             "--api-version", "2025-04-30.basil", base_url=server.url, target="invoices")
    finally:
        server.stop()
    failure = cases["test_signed_event_credits_exact_amount"]
    assert failure.verdict == "failed" and failure.cause == "api_version", result.stdout.str()
    assert "2022-08-01" in failure.message and "charges" in failure.message and "latest_charge" in failure.message
    assert other_causes_named(failure.message, "api_version") == [], failure.message


def test_a_failed_payment_moving_a_state_machine_elsewhere_is_no_credit(
        webhook_secret: str, run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """open → failed on payment_intent.payment_failed is correct behaviour for a from/to effect, not a credit."""
    server = embedded("invoices")(webhook_secret, faults=frozenset({"fails_invoice"}))
    try:
        result, cases = _run(run_suites, tmp_path, "-k", "test_event_does_not_credit", base_url=server.url,
                             target="invoices")
    finally:
        server.stop()
    assert result.ret == 0, result.stdout.str()
    assert cases["test_event_does_not_credit[failed_payment]"].verdict == "passed"


def test_a_state_the_profile_does_not_allow_is_named(
        webhook_secret: str, run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """With [effect] may_become listing other states, moving to one not listed fails, named as such."""
    profile = Path(__file__).parent.parent / "fixtures" / "profiles" / "invoices.toml"
    text = profile.read_text().replace('to = "paid"\n', 'to = "paid"\nmay_become = ["void"]\n')
    custom = tmp_path / "invoices-strict.toml"
    custom.write_text(text.replace('name = "invoices"', 'name = "invoices-strict"'))
    server = embedded("invoices")(webhook_secret, faults=frozenset({"fails_invoice"}))
    try:
        result, cases = _run(run_suites, tmp_path, "-k", "test_event_does_not_credit and failed_payment",
                             base_url=server.url, target=str(custom))
    finally:
        server.stop()
    case = cases["test_event_does_not_credit[failed_payment]"]
    assert case.verdict == "failed" and case.cause == "unexpected_state", result.stdout.str()
    assert "credited" not in case.message


def test_state_route_throttled_past_the_deadline_is_inconclusive(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """429 with a Retry-After beyond the deadline: inconclusive and exit 6, never a target defect."""
    server = start_topups(rate_limit_per_minute=3, rate_limit_webhook=False)
    result, cases = _run(run_suites, tmp_path, "-k", "test_signed_event_credits_exact_amount or test_redelivery",
                         "--rate-limit", "100000", base_url=server.url)
    assert result.ret == 6, result.stdout.str()
    assert cases["test_signed_event_credits_exact_amount"].verdict == "inconclusive"
    assert "429" in cases["test_signed_event_credits_exact_amount"].message
    assert cases["test_redelivery_credits_once"].verdict == "blocked"
    assert not [c for c in cases.values() if c.verdict == "failed"]
    assert "inconclusive" in result.stdout.str().split("stripe-smoke summary")[-1]


def test_blocked_dependents_fail_the_run_even_when_their_foundation_is_not_selected(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """-k picks only a dependent: it is blocked by the failed foundation, and the run still exits 1."""
    server = start_topups("acknowledges_everything")
    result, cases = _run(run_suites, tmp_path, "-k", "test_redelivery_credits_once", base_url=server.url)
    assert cases["test_redelivery_credits_once"].verdict == "blocked"
    assert "acknowledges everything" in cases["test_redelivery_credits_once"].message
    assert result.ret == 1, result.stdout.str()


def test_judge_credit_reads_only_reaching_to_as_a_credit() -> None:
    """The engine's judgement: exact credit, twice, wrong amount; for from → to, other states are no credit."""
    from smoke.effects import Effect
    from smoke.verdicts import credit_mismatch, judge_credit

    delta = Effect(delta=500)
    assert [judge_credit(delta, 0, v) for v in (0, 500, 1000, 5, None)] == [
        None, "credited", "credited_twice", "wrong_amount", None]
    assert credit_mismatch("credited_twice", delta, 0, 1000) == "credited twice: expected 0 → 500 (+500), saw 1000"
    assert credit_mismatch("wrong_amount", delta, 0, 5).startswith("credited the wrong amount: expected 0 → 500")
    state = Effect(to="paid", from_="pending")
    assert [judge_credit(state, "pending", v) for v in ("pending", "paid", "failed")] == [None, "credited", None]
    assert not state.unwanted("pending", "failed") and state.unwanted("pending", "paid")
    strict = Effect(to="paid", from_="pending", may_become=("failed",))
    assert not strict.unwanted("pending", "failed") and strict.unwanted("pending", "void")


def test_wait_cut_short_by_a_long_retry_after_is_marked() -> None:
    """A 429 asking to wait past the deadline ends the wait at once, marked cut short (the inconclusive signal)."""
    from smoke.waiting import RateLimited, wait_for

    def throttled() -> int:
        raise RateLimited(60)

    outcome = wait_for(throttled, lambda v: True, 2.0)
    assert not outcome.ok and outcome.cut_short and outcome.elapsed < 1
    plain = wait_for(lambda: 0, lambda v: v == 1, 0.05)
    assert not plain.ok and not plain.cut_short
