"""The end-of-run table and summary.md: every check's verdict, grouped by area, what needs attention first."""

from __future__ import annotations

import pytest

from smoke.reporting import MARK, Summary, area_of
from smoke.verdicts import CAUSE_PROPERTY, VERDICT_PROPERTY

SECRET = "whsec_" + "K4" * 16
# Hypothesis's plugin imports all of hypothesis at the end of every in-process run (~1 s); these runs need none of it.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

CHECKS = {
    "test_credit": '''
def test_credits(smoke_settings):
    pass
''',
    "test_signature": '''
from smoke import fail

def test_rejects_forgeries(smoke_settings):
    pass

def test_wrong_secret_is_refused(smoke_settings):
    fail("A forged event signed with ''' + SECRET + ''' was credited | twice.", "forgery_wrong_secret")
''',
    "test_idempotency": '''
from smoke.verdicts import Blocked

def test_concurrent(smoke_settings):
    raise Blocked("blocked: test_redelivery_credits_once failed (no dedupe)", "no_dedupe")
''',
    "test_my_api_limits": '''
from smoke import Inconclusive

def test_throttled(smoke_settings):
    raise Inconclusive("Inconclusive: the target answered 429 past the deadline.", "throttled")
''',
    "test_not_ours": '''
def test_plain():
    assert True
''',
}


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project whose checks use the plugin's fixtures, pointed at a deployed target through the environment."""
    for name in ("STRIPE_WEBHOOK_SECRET", "SMOKE_REPORTS_DIR", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMOKE_TARGET", "topups")
    monkeypatch.setenv("BASE_URL", "https://staging.example.com")
    return pytester


def test_summary_md_opens_with_target_url_and_counts_then_areas_failures_first(
        session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header names the target, its URL and the verdict counts; areas with failures come first, and in an
    area the failure before the pass; the cause and the one-line reason are shown, secrets masked."""
    step_summary = session.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    session.makepyfile(**CHECKS)
    result = session.runpytest_inprocess(*QUIET)
    assert result.ret == 1
    text = (session.path / "reports" / "summary.md").read_text()
    assert step_summary.read_text() == text
    assert SECRET not in text + result.stdout.str()
    lines = text.splitlines()
    assert lines[:3] == ["## stripe-smoke", "",
                         "Target `topups` at https://staging.example.com — **1 failed, 1 blocked, 1 inconclusive, 2 passed**"]
    assert [line for line in lines if line.startswith("### ")] == [
        "### signature", "### idempotency", "### my api limits", "### credit"]
    signature = lines[lines.index("### signature") + 4:lines.index("### idempotency") - 1]
    assert signature[0].startswith("| `test_signature.py::test_wrong_secret_is_refused` | ❌ failed |")
    assert signature[0].endswith("| `forgery_wrong_secret` | A forged event signed with [redacted] was credited \\| twice. |")
    assert signature[1].startswith("| `test_signature.py::test_rejects_forgeries` | ✅ passed |")
    assert "| ⛔ blocked |" in text and "blocked: test_redelivery_credits_once failed (no dedupe)" in text
    assert "| ❔ inconclusive |" in text and "`throttled`" in text
    assert "test_plain" not in text  # a test that does not use the plugin is not a check
    # The terminal table: one line per check, with the reason.
    table = result.stdout.str().split("stripe-smoke summary")[-1]
    assert "test_wrong_secret_is_refused" in table and "failed" in table and "[redacted]" in table


def test_without_a_base_url_the_summary_names_the_embedded_target(session: pytest.Pytester,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No BASE_URL: the harness started the profile's own target, and the summary says so."""
    monkeypatch.delenv("BASE_URL")
    session.makepyfile(test_credit=CHECKS["test_credit"])
    assert session.runpytest_inprocess(*QUIET).ret == 0
    header = (session.path / "reports" / "summary.md").read_text().splitlines()[2]
    assert header == "Target `topups` at the embedded target — **1 passed**"


@pytest.mark.parametrize(("module", "code"), [("test_idempotency", 1), ("test_my_api_limits", 6)])
def test_a_run_of_skips_still_exits_with_its_verdict(session: pytest.Pytester, module: str, code: int) -> None:
    """Blocked by a failure fails the run (1); only inconclusive is its own exit code (6), not a pass."""
    session.makepyfile(**{module: CHECKS[module]})
    result = session.runpytest_inprocess(*QUIET)
    assert result.ret == code
    result.assert_outcomes(skipped=1)


def test_no_checks_means_no_summary(session: pytest.Pytester) -> None:
    """A session without a single check (other people's tests) writes no reports folder."""
    session.makepyfile(test_not_ours=CHECKS["test_not_ours"])
    assert session.runpytest_inprocess(*QUIET).ret == 0
    assert not (session.path / "reports").exists()


def _report(nodeid: str, when: str = "call", outcome: str = "passed", duration: float = 0.1,
            longrepr: object = None, properties: tuple[tuple[str, object], ...] = ()) -> pytest.TestReport:
    return pytest.TestReport(nodeid, (nodeid.split("::")[0], 0, nodeid), {}, outcome, longrepr,  # type: ignore[arg-type]
                             when, duration=duration, user_properties=[MARK, *properties])


def test_a_row_adds_up_its_phases_and_keeps_the_worst_verdict(pytester: pytest.Pytester) -> None:
    """A check's time is set-up + call + teardown; a failing teardown turns a pass into an error; a check that
    failed keeps its reason and cause; reports of tests that are not checks are ignored."""
    summary = Summary(pytester.parseconfig())
    node = "smoke/suites/test_refunds.py::test_refund_reverses_the_credit"
    for when, outcome, longrepr in (("setup", "passed", None), ("call", "passed", None),
                                    ("teardown", "failed", "E   RuntimeError: could not stop the target")):
        summary.record(_report(node, when, outcome, longrepr=longrepr))
    failing = "smoke/suites/test_credit.py::test_signed_event_credits_exact_amount"
    summary.record(_report(failing, "call", "failed", 0.5, "Failed: credited twice: expected 0 → 500 (+500), saw 1000\n"
                           "[stripe-smoke cause: credited_twice]", ((CAUSE_PROPERTY, "credited_twice"),)))
    summary.record(_report(failing, "teardown", "passed", 0.25))
    summary.record(pytest.TestReport("tests/test_other.py::test_x", ("", 0, ""), {}, "failed", "boom", "call"))
    rows = summary.rows
    assert list(rows) == [node, failing]
    assert rows[node].verdict == "error" and rows[node].seconds == pytest.approx(0.3)
    assert rows[node].reason == "RuntimeError: could not stop the target" and rows[node].area == "refunds"
    assert (rows[failing].verdict, rows[failing].cause, rows[failing].seconds) == ("failed", "credited_twice", 0.75)
    assert rows[failing].reason == "credited twice: expected 0 → 500 (+500), saw 1000"
    assert summary.counts() == {"error": 1, "failed": 1}


def test_blocked_rows_mark_the_run_failed_only_when_a_foundation_failed(pytester: pytest.Pytester) -> None:
    """Blocked by a failed foundation fails the run; blocked by an inconclusive one does not."""
    config = pytester.parseconfig()
    skip = ("x.py", 1, "blocked: test_webhook_route_exists failed (no route)")
    by_failure, by_doubt = Summary(config), Summary(config)
    by_failure.record(_report("test_credit.py::test_a", "setup", "skipped", longrepr=skip,
                              properties=((VERDICT_PROPERTY, "blocked"), (VERDICT_PROPERTY + "_fails_run", True))))
    by_doubt.record(_report("test_credit.py::test_a", "setup", "skipped", longrepr=skip,
                            properties=((VERDICT_PROPERTY, "blocked"),)))
    assert by_failure.blocked_by_failure and not by_doubt.blocked_by_failure
    assert by_failure.rows["test_credit.py::test_a"].reason == "blocked: test_webhook_route_exists failed (no route)"


def test_the_area_of_a_check_is_its_module() -> None:
    """The suites' areas by name; a custom check's area comes from its file name."""
    assert area_of("smoke/suites/test_signature.py::test_forged_event_is_rejected[wrong_secret]") == "signature"
    assert area_of("smoke/suites/test_payment_intent.py::test_x") == "payment intent"
    assert area_of("checks/test_my_api_limits.py::test_y") == "my api limits"
