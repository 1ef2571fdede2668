"""The payment burst: a lost update is named as such and nothing else, correct targets of every style pass, and the
load the target held is reported."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.config import resolve_settings
from smoke.errors import ConfigError
from smoke.servers import RunningServer
from smoke.suites.test_burst import Tally, _peak, _percentile, judge_burst

from _scan import stripe_smoke
from _verdicts import PHRASES, Case, other_causes_named, run_for_verdicts

CHECK = "test_payment_burst_credits_every_payment"
CASES = (f"{CHECK}[one_buyer]", f"{CHECK}[three_buyers]")
# 20 payments keep it fast; a short credit deadline keeps the faulty runs (which wait it out) short.
FAST = ("-k", CHECK, "--burst", "20", "--smoke-timeout", "1.5")


def _run(run_suites: Callable[..., pytest.RunResult], junit: Path, *args: str,
         **kwargs: object) -> tuple[pytest.RunResult, dict[str, Case]]:
    return run_for_verdicts(run_suites, junit, *FAST, *args, **kwargs)


def test_a_lost_update_is_named_alone_in_serial_and_parallel_runs(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """Read, wait, write old + amount: a burst loses credits — named lost_update, for one buyer and spread, under -n 2 too."""
    faulty = start_topups("lost_update")
    result, serial = _run(run_suites, tmp_path / "serial.xml", base_url=faulty.url)
    assert result.ret == 1, result.stdout.str()
    for name in CASES:
        case = serial[name]
        assert case.verdict == "failed" and case.cause == "lost_update", case
        assert PHRASES["lost_update"] in case.message and "credits vanished" in case.message, case.message
        assert "one at a time each credited" in case.message, case.message  # the race is told from a plain drop
        assert other_causes_named(case.message, "lost_update") == [], case.message

    result, parallel = _run(run_suites, tmp_path / "parallel.xml", "-n", "2", base_url=faulty.url)
    assert result.ret == 1, result.stdout.str()
    assert {n: (c.verdict, c.cause) for n, c in parallel.items()} == {n: (c.verdict, c.cause) for n, c in serial.items()}


def test_correct_topups_loses_nothing_and_reports_the_load(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """Atomic credits pass; the throughput and p50/p95 are printed, carried in JUnit and listed in summary.md."""
    correct = start_topups()
    reports = tmp_path / "reports"
    result, cases = _run(run_suites, tmp_path / "junit.xml", "--reports-dir", str(reports), base_url=correct.url)
    assert result.ret == 0 and [cases[n].verdict for n in CASES] == ["passed", "passed"], result.stdout.str()
    result.stdout.re_match_lines([r"load held: 20 distinct payments in [\d.]+ s = \d+ deliveries/s, up to \d+ in flight; "
                                  r"acknowledged in p50 \d+ ms, p95 \d+ ms",
                                  r"load held: 20 distinct payments to 3 buyers in .*"], consecutive=False)
    for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["stripe_smoke_load"].startswith("20 distinct payments"), props
        assert float(props["stripe_smoke_load_per_second"]) > 0 and int(props["stripe_smoke_load_peak_in_flight"]) >= 2
        assert float(props["stripe_smoke_load_p50_ms"]) <= float(props["stripe_smoke_load_p95_ms"])
    summary = (reports / "summary.md").read_text()
    assert summary.count("- load held by `test_burst.py::") == 2, summary


@pytest.mark.parametrize("style, verdict, reason", [
    ("subscriptions", "passed", ""),  # a fresh pending payment (per_check) for each of the 20 events
    ("invoices", "skipped", "a burst needs a numeric credit state"),
    ("credits", "skipped", "a simulated event alone does not credit it"),
    ("ack-only", "skipped", "no readable credit state"),
])
def test_each_reference_style_passes_or_says_why_not(
        style: str, verdict: str, reason: str, start_style: Callable[..., RunningServer],
        run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """The correct target of every style passes the burst, or skips it with the reason its profile gives."""
    server = start_style(style)
    result, cases = _run(run_suites, tmp_path / "junit.xml", base_url=server.url, target=style)
    for name in CASES:
        assert cases[name].verdict == verdict, result.stdout.str()
        assert reason in cases[name].message, cases[name].message


def test_a_fixed_buyer_skips_only_the_spread(start_topups: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch,
                                              run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """With SMOKE_BUYER_EMAIL every buyer is the same account: the one-buyer burst runs, the spread says why it can't."""
    monkeypatch.setenv("SMOKE_BUYER_EMAIL", "burst-fixed@example.test")
    monkeypatch.setenv("SMOKE_BUYER_PASSWORD", "burst-fixed-Passw0rd")
    server = start_topups()
    result, cases = _run(run_suites, tmp_path / "junit.xml", base_url=server.url)
    assert cases[CASES[0]].verdict == "passed", result.stdout.str()
    spread = cases[CASES[1]]
    assert spread.verdict == "skipped" and "makes the same buyer every time (SMOKE_BUYER_EMAIL" in spread.message, spread


def test_a_rate_limit_that_rules_out_a_burst_skips_it(start_topups: Callable[..., RunningServer],
                                                       run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """Paced to 600 a minute, 100 deliveries would take 10 s: no burst, and the check says so instead of sending."""
    server = start_topups()
    result, cases = _run(run_suites, tmp_path / "junit.xml", "--rate-limit", "600", "--burst", "100", base_url=server.url)
    for name in CASES:
        assert cases[name].verdict == "skipped" and "which is no burst" in cases[name].message, result.stdout.str()


def test_a_burst_whose_deliveries_never_overlapped_is_not_a_pass(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """Paced 0.5 s apart, deliveries the target answers in milliseconds never overlap: skipped, not passed."""
    server = start_topups()
    result, cases = _run(run_suites, tmp_path / "junit.xml", "--rate-limit", "120", "--burst", "2", "-k", "one_buyer",
                         base_url=server.url)
    case = cases[CASES[0]]
    assert case.verdict == "skipped" and "the deliveries never overlapped (2 distinct payments" in case.message, \
        result.stdout.str()


@pytest.mark.parametrize("value, phrase", [("1", "--burst must be at least 2"), ("501", "--burst must be at most 500"),
                                           ("many", "--burst must be a whole number")])
def test_the_burst_size_is_checked(value: str, phrase: str) -> None:
    """--burst (SMOKE_BURST, ini smoke_burst) takes 2 to 500 payments."""
    with pytest.raises(ConfigError, match=phrase):
        resolve_settings({"burst": value}, environ={})
    assert resolve_settings({}, environ={"SMOKE_BURST": "30"}).burst == 30
    assert resolve_settings({}, environ={}, ini={"burst": "12"}).burst == 12


def test_a_bad_burst_size_is_exit_4_in_one_line(tmp_path: Path) -> None:
    """`stripe-smoke run --burst 1` stops before anything runs: exit 4 and one line naming the option."""
    result = stripe_smoke(tmp_path, "run", "--burst", "1", env={})
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr
    assert result.stderr.strip() == "stripe-smoke: --burst must be at least 2, not '1'.", result.stderr


CAUSES = {
    "burst_overcredit": [Tally(50, 50, 53)],
    "burst_misattributed": [Tally(17, 17, 19), Tally(17, 17, 15), Tally(16, 16, 16)],
    "burst_errors": [Tally(50, 45, 45)],
    "wrong_amount": [Tally(50, 50, 49.5)],
    "lost_update": [Tally(17, 17, 12), Tally(17, 17, 17), Tally(16, 15, 15)],
}


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_each_outcome_names_its_own_cause(cause: str) -> None:
    """Each shape of evidence gets its own cause, whose message names no other cause."""
    tallies = CAUSES[cause]
    missing = sum(t.share - t.acked for t in tallies)
    not_acked = +Counter({"HTTP 503": missing - 1, "no answer within 15s": 1}) if missing else Counter()
    cause_seen, message = judge_burst(tallies, delta=500, state="account.balance_cents", peak=10, not_acked=not_acked,
                                      probe=lambda: (2, ""))
    assert cause_seen == cause, message
    assert other_causes_named(message, cause) == [], message
    if cause in PHRASES:
        assert PHRASES[cause] in message, message


def test_vanished_credits_without_concurrency_are_not_called_a_race() -> None:
    """If distinct payments sent one at a time are lost too, the message does not blame a read-modify-write."""
    cause, message = judge_burst([Tally(50, 50, 37)], delta=500, peak=10, probe=lambda: (1, "+500 expected, saw 1000"))
    assert cause == "drops_distinct_payments" and "13 credits vanished" in message, message
    assert other_causes_named(message, cause) == [], message
    cause, message = judge_burst([Tally(50, 50, 37)], delta=500, peak=10, probe=lambda: (2, ""))
    assert cause == "lost_update" and message.startswith("50 distinct payments delivered at once (up to 10 in flight) "
                                                         "were all acknowledged, but the credit state rose by 37 × 500 = "
                                                         "18500 instead of 25000: 13 credits vanished"), message
    assert judge_burst([Tally(50, 50, 50)], delta=500, peak=10) == ("", "")


def test_load_figures() -> None:
    """Nearest-rank percentiles, and the most deliveries open at one moment."""
    times = sorted([0.01 * n for n in range(1, 21)])
    assert _percentile(times, 0.5) == pytest.approx(0.10) and _percentile(times, 0.95) == pytest.approx(0.19)
    assert _percentile([], 0.95) == 0.0
    assert _peak([(0, 2), (1, 3), (1.5, 4), (3.5, 5)]) == 3 and _peak([(0, 1), (1.5, 2)]) == 1
