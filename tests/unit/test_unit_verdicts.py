"""The verdict engine: how a credit is judged, how a failure reads, and how a check ends in one of five verdicts."""

from __future__ import annotations

import pytest

from smoke.checks import Failure, conclude, fail
from smoke.effects import Effect
from smoke.verdicts import PASSED, Blocked, Finding, Inconclusive, Verdict, credit_mismatch, failed, inconclusive, judge_credit

TOP_UP = Effect(delta=500)
INVOICE = Effect(from_="open", to="paid")


@pytest.mark.parametrize(("seen", "judged"), [
    (None, None),             # the state could not be read: nothing is claimed
    (1000, None),             # nothing moved (yet)
    (1500, "credited"),
    (2000, "credited_twice"),
    (2500, "credited_twice"),  # three times: still a whole multiple
    (1005, "wrong_amount"),    # dollars for cents
    (2250, "wrong_amount"),    # 2.5 credits is not "twice"
    (500, "wrong_amount"),     # the balance went down
])
def test_a_numeric_credit_is_judged_by_how_far_the_state_moved(seen: object, judged: str | None) -> None:
    """From a 1000 baseline and +500 a payment: exactly one credit, a whole multiple, or a wrong amount."""
    assert judge_credit(TOP_UP, 1000, seen) == judged


def test_a_state_read_as_text_is_judged_as_a_number() -> None:
    """An API answering ``"1500"`` (a JSON string) is judged like 1500."""
    assert judge_credit(TOP_UP, "1000", "1500") == "credited"
    assert judge_credit(TOP_UP, "1000", "2000") == "credited_twice"


def test_a_state_change_is_a_credit_only_when_it_reaches_to() -> None:
    """open → paid credits; open → failed is no credit and no wrong amount (non-crediting checks judge it)."""
    assert judge_credit(INVOICE, "open", "paid") == "credited"
    assert judge_credit(INVOICE, "open", "open") is None
    assert judge_credit(INVOICE, "open", "failed") is None


def test_a_mismatched_credit_reads_as_what_was_expected_and_seen() -> None:
    """The phrase a failure carries: how many times, or the wrong amount with its signed difference."""
    assert credit_mismatch("credited_twice", TOP_UP, 1000, 2000) == "credited twice: expected 1000 → 1500 (+500), saw 2000"
    assert credit_mismatch("credited_twice", TOP_UP, 1000, 2500) == "credited 3 times: expected 1000 → 1500 (+500), saw 2500"
    assert credit_mismatch("wrong_amount", TOP_UP, 1000, 1005) == "credited the wrong amount: expected 1000 → 1500 (+500), saw 1005 (+5)"
    assert credit_mismatch("wrong_amount", TOP_UP, 1000, 500).endswith("saw 500 (-500)")
    assert credit_mismatch("wrong_amount", Effect(delta=2.5), 10, 11.25).endswith("saw 11.25 (+1.25)")
    assert credit_mismatch("wrong_amount", INVOICE, "open", "void") == "credited the wrong amount: expected open → paid, saw void"


def test_the_five_verdicts_and_which_findings_pass() -> None:
    """Five verdicts, named as JUnit and summary.md show them; only a passed finding is ok."""
    assert [v.value for v in Verdict] == ["passed", "failed", "blocked", "inconclusive", "skipped"]
    assert Verdict("blocked") is Verdict.BLOCKED and Verdict.FAILED == "failed"
    assert PASSED.ok and Finding(Verdict.PASSED).ok
    assert [Finding(v).ok for v in Verdict if v is not Verdict.PASSED] == [False] * 4
    assert failed("no_dedupe", "credited twice") == Finding(Verdict.FAILED, "credited twice", "no_dedupe")
    assert inconclusive("throttled", "429") == Finding(Verdict.INCONCLUSIVE, "429", "throttled")


def test_blocked_and_inconclusive_are_skips_carrying_their_verdict_and_cause() -> None:
    """pytest reports them as skips (never failures); the plugin reads the verdict and cause off the exception."""
    blocked = Blocked("blocked: test_x failed (no route)", "no_route")
    unsure = Inconclusive("Inconclusive: throttled", "throttled")
    for exc, verdict in ((blocked, Verdict.BLOCKED), (unsure, Verdict.INCONCLUSIVE)):
        assert isinstance(exc, pytest.skip.Exception) and not isinstance(exc, pytest.fail.Exception)
        assert exc.verdict is verdict
    assert (blocked.msg, blocked.cause) == ("blocked: test_x failed (no route)", "no_route")
    assert blocked.foundation_failed  # a failed foundation fails the run; an inconclusive one sets it False
    assert Inconclusive("x").cause == ""


def test_conclude_passes_fails_or_reports_inconclusive() -> None:
    """A passed finding returns; a failed one fails with its message and cause; an inconclusive one is not a defect."""
    assert conclude(PASSED) is None
    with pytest.raises(Failure) as failure:
        conclude(failed("no_dedupe", "The same event credited twice."))
    assert (failure.value.msg, failure.value.cause, failure.value.pytrace) == ("The same event credited twice.", "no_dedupe", False)
    with pytest.raises(Inconclusive) as unsure:
        conclude(inconclusive("throttled", "Inconclusive: 429 past the deadline."))
    assert unsure.value.cause == "throttled"


def test_a_failure_message_never_carries_a_secret() -> None:
    """fail() masks credentials in the message the terminal, JUnit and Allure show."""
    secret = "whsec_" + "Q7" * 16
    with pytest.raises(Failure) as failure:
        fail(f"rejected with the secret {secret}", "wrong_secret")
    assert secret not in str(failure.value.msg) and "[redacted]" in str(failure.value.msg)
    assert failure.value.cause == "wrong_secret"
