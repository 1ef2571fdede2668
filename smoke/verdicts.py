"""The verdict engine: one taxonomy for every check and every receipt's verify, and the judgement of a credit.

A check ends in exactly one of five verdicts:

- ``passed``: the evidence shows the property;
- ``failed``: the target broke it; the message names the one cause the evidence supports;
- ``blocked``: a foundation it depends on failed (named, with its cause); nothing was waited for;
- ``inconclusive``: the harness could not observe (throttled past the deadline, state unreadable);
- ``skipped``: the profile says the target cannot do what the check needs.

pytest knows only passed/failed/skipped, so ``blocked`` and ``inconclusive`` travel as skips carrying a
``stripe_smoke_verdict`` user property; the summary, JUnit message, Allure status details and exit code
all read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from _pytest.outcomes import Skipped

from smoke.effects import Effect

__all__ = ["CAUSE_PROPERTY", "EXIT_INCONCLUSIVE", "PASSED", "VERDICT_PROPERTY", "Blocked", "Finding", "Inconclusive", "Verdict",
           "credit_mismatch", "failed", "inconclusive", "judge_credit"]

# The exit code of a run whose only problem is that the harness could not observe: CI may retry it.
EXIT_INCONCLUSIVE = 6
VERDICT_PROPERTY = "stripe_smoke_verdict"
CAUSE_PROPERTY = "stripe_smoke_cause"


class Verdict(str, Enum):
    """The five verdicts."""

    PASSED = "passed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Finding:
    """A verdict with its evidence: a short cause id (``no_dedupe``, ``wrong_secret``…) and the message a person reads."""

    verdict: Verdict
    message: str = ""
    cause: str = ""

    @property
    def ok(self) -> bool:
        """True when the property held."""
        return self.verdict is Verdict.PASSED


PASSED = Finding(Verdict.PASSED)


def failed(cause: str, message: str) -> Finding:
    """A failure with the cause the evidence supports."""
    return Finding(Verdict.FAILED, message, cause)


def inconclusive(cause: str, message: str) -> Finding:
    """The harness could not observe; never reported as a target defect."""
    return Finding(Verdict.INCONCLUSIVE, message, cause)


class _NotJudged(Skipped):
    """A check that ends without a pass or a failure of its own (reported by pytest as a skip)."""

    verdict: Verdict = Verdict.SKIPPED

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(msg=message, allow_module_level=False)
        self.cause = cause


class Blocked(_NotJudged):
    """A foundation this check depends on failed; the check did not run its waits."""

    verdict = Verdict.BLOCKED
    # False when the foundation was inconclusive rather than failed (then the run is inconclusive, not failed).
    foundation_failed = True


class Inconclusive(_NotJudged):
    """The harness could not observe what the check needs; nothing is claimed about the target."""

    verdict = Verdict.INCONCLUSIVE


def judge_credit(effect: Effect, baseline: Any, seen: Any) -> str | None:
    """``credited``, ``credited_twice``, ``wrong_amount`` or ``not_credited`` (None while nothing moved)."""
    if seen is None or seen == baseline:
        return None
    if effect.reached(baseline, seen):
        return "credited"
    if not effect.numeric:
        return None  # another state than ``to``: not a credit (e.g. pending → failed)
    moved = effect.moved(baseline, seen)
    return "credited_twice" if moved > 1 and float(moved).is_integer() else "wrong_amount"


def credit_mismatch(code: str, effect: Effect, baseline: Any, seen: Any) -> str:
    """The phrase for a credit that landed wrongly: ``credited 2 times (…)`` or ``credited the wrong amount: …``."""
    if code == "credited_twice":
        times = int(effect.moved(baseline, seen))
        return f"credited {'twice' if times == 2 else f'{times} times'}: expected {effect.describe(baseline)}, saw {seen}"
    difference = ""
    if effect.numeric:
        try:
            moved = float(seen) - float(baseline)
            difference = f" ({'+' if moved >= 0 else ''}{int(moved) if moved.is_integer() else moved:g})"
        except (TypeError, ValueError):
            pass
    return f"credited the wrong amount: expected {effect.describe(baseline)}, saw {seen}{difference}"
