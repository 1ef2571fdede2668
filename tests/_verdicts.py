"""Reading a run's verdicts back from its JUnit file: check → verdict, message and cause."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# Each cause's phrase: a failure naming one cause must not contain another's.
PHRASES: dict[str, str] = {
    "no_dedupe": "does not dedupe on the event id",
    "dedupe_race": "check-then-insert race",
    "acknowledges_everything": "acknowledges everything",
    "acknowledges_rejection": "answer 2xx anyway",
    "wrong_secret": "not this endpoint's signing secret",
    "api_version": "shaped for API version",
    "records_before_processing": "records the event before processing it",
    "reserialized_body": "re-serialised body",
    "crashes_on_rotation": "header parsing fails on two v1 values",
    "rejects_rotation": "was rejected (HTTP",
    "forgery_missing_header": "does not check signatures",
    "forgery_wrong_secret": "does not verify the signature against its secret",
    "forgery_tampered_body": "does not verify the signature over the body",
    "forgery_stale_timestamp": "no timestamp tolerance",
    "forgery_slightly_stale": "looser than Stripe's 300 s",
    "forgery_near_miss_signature": "compares only part of the v1 signature",
    "forgery_truncated_signature": "accepts a v1 value that is a prefix",
    "forgery_v0_only": "accepts the v0 scheme",
    "credited_elsewhere": "credited another account or none",
    "crashes_on_forgery": "crashes instead of rejecting",
    "crashes_on_unplaceable": "crashes on a payment it cannot place",
    "credits_unplaceable": "credits an account the event does not name",
    "ignores_async_success": "ignores a delayed payment",
    "crashes_on_non_event": "JSON, but not a Stripe event",
    "acknowledges_non_event": "so a broken sender shows in your logs",
    "credits_non_event": "credits from a body that is not an event",
    "lost_update": "read-modify-write of the balance",
    "drops_distinct_payments": "loses distinct payments to one buyer even without concurrency",
    "burst_overcredit": "more than was paid",
    "burst_misattributed": "got credits for other buyers' payments",
    "burst_errors": "fails under this load",
    "acknowledged_during_failure": "must answer 5xx so Stripe retries it",
    "retry_fails": "does not recover once the cause is gone",
    "acknowledged_during_outage": "acknowledged while Stripe was unreachable",
}


@dataclass(frozen=True)
class Case:
    """One check's verdict as JUnit carries it."""

    verdict: str  # passed | failed | error | skipped | blocked | inconclusive
    message: str
    cause: str


def read_junit(path: Path) -> dict[str, Case]:
    """Every test case of a JUnit file by its name (``test_x[param]``)."""
    cases: dict[str, Case] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        verdict, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                verdict, message = {"failure": "failed"}.get(child.tag, child.tag), child.get("message", "")
        verdict = props.get("stripe_smoke_verdict") or verdict
        cases[str(case.get("name"))] = Case(verdict, message, props.get("stripe_smoke_cause") or "")
    return cases


def run_for_verdicts(run_suites: Callable[..., pytest.RunResult], junit: Path, *args: str,
                     **kwargs: object) -> tuple[pytest.RunResult, dict[str, Case]]:
    """Run the suites (``run_suites`` fixture) with ``args``, JUnit to ``junit``: the result and each check's verdict."""
    result = run_suites(*args, f"--junitxml={junit}", **kwargs)
    return result, read_junit(junit)


def other_causes_named(message: str, cause: str) -> list[str]:
    """The causes other than ``cause`` whose phrase appears in ``message``."""
    return [other for other, phrase in PHRASES.items() if other != cause and phrase in message]
