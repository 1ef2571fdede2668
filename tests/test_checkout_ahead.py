"""Real Checkout in a serial run: its create and pay phases start with the first check and it runs last."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

# Records when each check started and ended (wall time), so the test can place the Checkout phases among them.
TIMES = """
import json, time
TIMES = {}

def pytest_runtest_logstart(nodeid, location):
    TIMES.setdefault(nodeid.rsplit("::", 1)[-1], {})["start"] = time.time()

def pytest_runtest_logfinish(nodeid, location):
    TIMES[nodeid.rsplit("::", 1)[-1]]["end"] = time.time()
    with open("times.json", "w") as out:
        json.dump(TIMES, out)
"""


def test_the_checkout_phases_run_while_the_other_checks_do(run_suites: Callable[..., pytest.RunResult],
                                                           pytester: pytest.Pytester) -> None:
    pytester.makepyfile(smoke_times=TIMES)
    pytester.syspathinsert()
    reports = pytester.path / "reports"
    result = run_suites("-p", "smoke_times", "--reports-dir", str(reports), "-k", "checkout_payment or signed_event_credits or redelivery")
    result.assert_outcomes(passed=3)
    times = json.loads((pytester.path / "times.json").read_text())
    order = sorted(times, key=lambda name: times[name]["start"])
    assert order[-1] == "test_checkout_payment_is_credited", order  # collected first of the three, run last
    receipt = json.loads(next((reports / "receipts").glob("*.json")).read_text())
    assert [h["status"] for h in receipt["history"]][:2] == ["created", "paid"], receipt["history"]
    created = next((reports / "receipts").glob("*.url")).stat().st_mtime  # written once, by the create phase
    first = times[order[0]]
    assert created < first["end"], (created, first)  # the session was created while the first check ran


def test_alone_the_checkout_check_runs_its_phases_itself(run_suites: Callable[..., pytest.RunResult],
                                                         pytester: pytest.Pytester) -> None:
    reports = pytester.path / "reports"
    result = run_suites("--reports-dir", str(reports), "-k", "checkout_payment")
    result.assert_outcomes(passed=1)
    receipt = json.loads(next((reports / "receipts").glob("*.json")).read_text())
    assert [h["status"] for h in receipt["history"]][:2] == ["created", "paid"], receipt["history"]


def test_a_run_that_stops_early_lets_the_started_payment_finish_before_the_servers_stop(
        run_suites: Callable[..., pytest.RunResult], pytester: pytest.Pytester) -> None:
    # -x ends the run at the first failure, before the Checkout check: the payment begun with the first check still
    # completes (the embedded target and its Stripe stop only after it), and its receipt says so.
    pytester.makepyfile(test_zz_fails="def test_fails(smoke_settings):\n    assert False\n")
    reports = pytester.path / "reports"
    result = run_suites("-x", "--reports-dir", str(reports), "-k", "checkout_payment or signed_event_credits or test_fails",
                        str(pytester.path))
    result.assert_outcomes(passed=1, failed=1)
    receipt = json.loads(next((reports / "receipts").glob("*.json")).read_text())
    assert receipt["history"][-1]["status"] == "paid", receipt["history"]
