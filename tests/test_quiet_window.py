"""One observation window for every "nothing may change" check: the same verdicts as one check at a time, fewer reads."""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable

import pytest
from flask import request

from smoke.servers import RunningServer

from _verdicts import read_junit

QUIET = "test_event_does_not_credit or test_forged_event_is_rejected or test_unplaceable_payment_credits_nobody"


def _state_reads(server: RunningServer) -> list[int]:
    """A counter of the target's credit-state reads (hooked before its first request)."""
    reads = [0]
    lock = threading.Lock()

    @server.app.before_request
    def count() -> None:
        if request.path == "/api/billing/account":
            with lock:
                reads[0] += 1

    return reads


def _same(message: str) -> str:
    """A message without what differs from run to run (amounts of the balance so far, ids, times)."""
    message = re.sub(r"does_not_exist_\w+", "STRANGER", message)  # an unplaceable payment's made-up account
    return re.sub(r"\b(evt|cs|pi|ch|acct)_\w+", "ID", re.sub(r"\d+(\.\d+)?", "N", message))


def _verdicts(run_suites: Callable[..., pytest.RunResult], server: RunningServer, junit: str) -> dict[str, tuple[str, ...]]:
    run_suites("-k", QUIET, f"--junitxml={junit}", base_url=server.url)
    return {name: (case.verdict, case.cause, _same(case.message)) for name, case in read_junit(junit).items()}


@pytest.mark.parametrize("faults", [
    (),
    ("no_signature_check",),
    ("credits_failed_payment", "loose_tolerance", "catch_all_200"),
    ("credits_unpaid", "accepts_v0", "error_on_unknown", "crashes_on_bad_header"),
    ("credits_latest_account",),
    ("crashes_on_unplaceable", "credits_failed_payment"),
], ids=["correct", "no_signature_check", "three_faults", "four_faults", "credits_latest_account", "crashes_on_unplaceable"])
def test_one_window_reaches_the_verdicts_of_one_check_at_a_time(
        faults: tuple[str, ...], start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult],
        monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    """Each check gets its own verdict, cause and message, whether its event is observed with the others or alone."""
    shared = start_topups(*faults)
    shared_reads = _state_reads(shared)
    together = _verdicts(run_suites, shared, f"{tmp_path}/together.xml")

    with monkeypatch.context() as alone_only:
        # The module the next in-process run will use (an earlier run's copy may still hang off the smoke package).
        alone_only.setattr(importlib.import_module("smoke.quiet"), "_groupable", lambda smoke: False)
        single = start_topups(*faults)
        single_reads = _state_reads(single)
        alone = _verdicts(run_suites, single, f"{tmp_path}/alone.xml")

    assert len(together) == 16 and together == alone
    if not faults:
        assert all(verdict == "passed" for verdict, _, _ in together.values())
        # The setup step and the credit foundation read 4 times; then the sixteen checks share one window, whose
        # baseline is the foundation's last reading: one more reading in all, where one at a time takes one each.
        assert shared_reads[0] == 4 + 1 and single_reads[0] >= 4 + 16, (shared_reads, single_reads)
