"""The failure-path checks: each faulty variant turns exactly its check red naming exactly its cause; every correct
reference target stays green (or skips, saying why); and the verdicts are the same under -n 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.servers import RunningServer
from smoke.suites.test_failure_paths import NOT_EVENTS, UNPLACEABLE

from _verdicts import Case, other_causes_named, run_for_verdicts

UNPLACEABLE_CHECK = "test_unplaceable_payment_credits_nobody"
ASYNC_CHECK = "test_delayed_payment_credits_when_it_succeeds"
NON_EVENT_CHECK = "test_non_event_json_is_refused"
CASES = {UNPLACEABLE_CHECK: [f"{UNPLACEABLE_CHECK}[{k}]" for k in UNPLACEABLE], ASYNC_CHECK: [ASYNC_CHECK],
         NON_EVENT_CHECK: [f"{NON_EVENT_CHECK}[{k}]" for k in NOT_EVENTS]}
EVERY_CASE = {name for names in CASES.values() for name in names}
SELECT = ("-k", "test_failure_paths")

# topups fault → (the check it must turn red, in every case, the cause named, words each message must contain)
CAUGHT_BY: dict[str, tuple[str, str, str]] = {
    "crashes_on_unplaceable": (UNPLACEABLE_CHECK, "crashes_on_unplaceable", "crashes on a payment it cannot place"),
    "credits_latest_account": (UNPLACEABLE_CHECK, "credits_unplaceable", "credits an account the event does not name"),
    "ignores_async_success": (ASYNC_CHECK, "ignores_async_success", "ignores a delayed payment"),
    "crashes_on_non_event": (NON_EVENT_CHECK, "crashes_on_non_event", "JSON, but not a Stripe event"),
}

# style → (profile, embedded name, the cases that skip, words of their reason)
STYLES: dict[str, tuple[str, str, set[str], str]] = {
    "topups": ("demo", "topups", set(), ""),
    "subscriptions": ("subscriptions", "subscriptions", set(), ""),
    "invoices": ("invoices", "invoices", {ASYNC_CHECK}, "not a Checkout Session's"),
    "credits": ("credits", "credits", {ASYNC_CHECK}, "not a Checkout Session's"),
    "ack-only": ("ack-only", "ack-only", set(CASES[UNPLACEABLE_CHECK]), "cannot tell which fields name the account"),
}


def _verdicts(run_suites: Callable[..., pytest.RunResult], junit: Path, *args: str,
              **kwargs: str) -> tuple[pytest.RunResult, dict[str, Case]]:
    result, cases = run_for_verdicts(run_suites, junit, *SELECT, *args, **kwargs)
    assert set(cases) == EVERY_CASE, (sorted(cases), result.stdout.str())
    return result, cases


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_fault_turns_exactly_its_check_red(fault: str, start_topups: Callable[..., RunningServer], tmp_path: Path,
                                           run_suites: Callable[..., pytest.RunResult]) -> None:
    """Every case of the check meant for ``fault`` fails naming that cause and no other; the other new checks pass."""
    check, cause, words = CAUGHT_BY[fault]
    # The missing credit is waited for until the deadline: a short one keeps the run short.
    extra = ("--smoke-timeout", "1") if fault == "ignores_async_success" else ()
    result, cases = _verdicts(run_suites, tmp_path / "faulty.xml", *extra, base_url=start_topups(fault).url)
    assert result.ret == 1, result.stdout.str()
    failed = {name for name, case in cases.items() if case.verdict == "failed"}
    assert failed == set(CASES[check]), {name: (c.verdict, c.message) for name, c in cases.items()}
    assert all(cases[name].verdict == "passed" for name in EVERY_CASE - failed), cases
    for name in failed:
        case = cases[name]
        assert case.cause == cause and words in case.message, case
        assert other_causes_named(case.message, cause) == [], case.message
    if check == NON_EVENT_CHECK:  # each verdict names its own body
        for kind, body in NOT_EVENTS.items():
            assert repr(body("checkout.session.completed").decode()) in cases[f"{check}[{kind}]"].message


@pytest.mark.parametrize("style", sorted(STYLES))
def test_correct_target_is_green(style: str, start_style: Callable[..., RunningServer], tmp_path: Path,
                                 run_suites: Callable[..., pytest.RunResult]) -> None:
    """Against each correct reference target every new case passes, or skips with the reason its profile gives."""
    profile, name, skipped, reason = STYLES[style]
    result, cases = _verdicts(run_suites, tmp_path / "correct.xml", base_url=start_style(name).url, target=profile)
    assert result.ret == 0, result.stdout.str()
    assert {n for n, c in cases.items() if c.verdict == "skipped"} == skipped, cases
    assert all(c.verdict == "passed" for n, c in cases.items() if n not in skipped), cases
    assert all(reason in cases[n].message for n in skipped), cases


def test_async_payments_false_skips_the_delayed_payment_check(start_topups: Callable[..., RunningServer], tmp_path: Path,
                                                               run_suites: Callable[..., pytest.RunResult]) -> None:
    """``[supports] async_payments = false`` skips the check with that reason, even against a target that ignores them."""
    demo = (Path(__file__).parent.parent / "fixtures" / "profiles" / "demo.toml").read_text()
    profile = tmp_path / "cards-only.toml"
    cards_only = demo.replace('name = "demo"', 'name = "cards-only"').replace("\n[supports]\n", "\n[supports]\nasync_payments = false\n")
    assert cards_only.count("async_payments = false") == 1
    profile.write_text(cards_only)
    result = run_suites("-k", ASYNC_CHECK, base_url=start_topups("ignores_async_success").url, target=str(profile))
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("skipped") == 1 and "passed" not in outcomes, result.stdout.str()
    assert "it does not take delayed payment methods ([supports] async_payments = false)" in result.stdout.str()


@pytest.mark.parametrize("faults", [("crashes_on_non_event",), ("crashes_on_unplaceable", "ignores_async_success")],
                         ids=["non_event", "unplaceable_and_async"])
def test_same_verdicts_under_xdist(faults: tuple[str, ...], start_topups: Callable[..., RunningServer], tmp_path: Path,
                                   run_suites: Callable[..., pytest.RunResult]) -> None:
    """Under -n 2 each case gets the verdict and cause of a serial run: red where a fault is, green elsewhere."""
    causes = {CAUGHT_BY[f][0]: CAUGHT_BY[f][1] for f in faults}
    expected = {name: ("failed", causes[check]) if check in causes else ("passed", "")
                for check, names in CASES.items() for name in names}
    result, cases = _verdicts(run_suites, tmp_path / "xdist.xml", "-n", "2", "--smoke-timeout", "1",
                              base_url=start_topups(*faults).url)
    assert {n: (c.verdict, c.cause) for n, c in cases.items()} == expected, result.stdout.str()
