"""The pytest plugin: options under one group, markers, fixtures, and redacted reports."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from smoke.config import OPTIONS
from smoke.errors import SmokeError
from smoke.redact import REDACTOR
from smoke.reporting import MARK, Summary
from smoke.verdicts import CAUSE_PROPERTY, EXIT_INCONCLUSIVE, VERDICT_PROPERTY, Verdict

from smoke._fixtures import (  # noqa: F401  (fixtures)
    smoke, smoke_embedded, smoke_foundations, smoke_profile, smoke_settings, smoke_target)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the options; each also reads an environment variable (see README)."""
    group = parser.getgroup("stripe-smoke", "stripe-smoke: check a billing API against Stripe payments")
    for option in OPTIONS:
        env = f" [env {option.env}]" if option.env else ""
        if option.kind is bool:
            group.addoption(option.flag, dest=f"smoke_{option.name}", action="store_true", default=None,
                            help=option.help + env)
        else:
            group.addoption(option.flag, dest=f"smoke_{option.name}", default=None, metavar=option.name.upper(),
                            help=f"{option.help} (default: {option.default}){env}")
    group.addoption("--env-file", dest="smoke_env_file", default=None, metavar="PATH",
                    help="read settings from this file instead of ./.env")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers the suites use and start collecting the summary."""
    config.stash[_SUMMARY] = Summary(config)
    config.addinivalue_line("markers", "simulated: the check sends simulated signed events (refused against production targets)")
    config.addinivalue_line("markers", "needs(capability): the check skips unless the profile supports the capability")
    config.addinivalue_line("markers", "depends_on(foundation): the check is blocked when that foundation (route, "
                                       "credit, dedupe) or one beneath it failed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """Show SmokeErrors as their one-line message, and redact every report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if "smoke_settings" in getattr(item, "fixturenames", ()):
        report.user_properties.append(MARK)
    if call.excinfo is not None and call.excinfo.errisinstance(SmokeError):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    if call.excinfo is not None:
        _record_verdict(item, report, call.excinfo.value)
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, REDACTOR.redact(reason))
    elif report.longrepr is not None:
        report.longrepr = REDACTOR.redact(str(report.longrepr))
    report.sections = [(title, REDACTOR.redact(text)) for title, text in report.sections]


_SUMMARY = pytest.StashKey[Summary]()


def _record_verdict(item: pytest.Item, report: pytest.TestReport, exc: BaseException) -> None:
    """Carry a blocked/inconclusive verdict and a failure's cause as properties (they cross xdist, and JUnit
    writes the item's properties as the test case's ``<properties>``)."""
    verdict = getattr(exc, "verdict", None)
    cause = getattr(exc, "cause", "")
    properties: list[tuple[str, object]] = []
    if isinstance(verdict, Verdict) and verdict in (Verdict.BLOCKED, Verdict.INCONCLUSIVE):
        properties.append((VERDICT_PROPERTY, verdict.value))
        if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason) — the reason without "Skipped: "
            path, line, _ = report.longrepr
            report.longrepr = (path, line, str(getattr(exc, "msg", "") or exc))
        if verdict is Verdict.BLOCKED and getattr(exc, "foundation_failed", True):
            properties.append((VERDICT_PROPERTY + "_fails_run", True))
    if cause:
        properties.append((CAUSE_PROPERTY, cause))
    report.user_properties.extend(properties)
    item.user_properties.extend(properties)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run with nothing failed still fails when a check was blocked by a failure; it is inconclusive when one was."""
    if exitstatus != 0 or _SUMMARY not in session.config.stash:
        return
    summary = session.config.stash[_SUMMARY]
    if summary.blocked_by_failure:
        session.exitstatus = 1
    elif any(row.verdict == Verdict.INCONCLUSIVE.value for row in summary.rows.values()):
        session.exitstatus = EXIT_INCONCLUSIVE


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect verdicts (on the xdist controller too, where workers' reports arrive)."""
    config = getattr(report, "config", None) or _CONFIG.get("config")
    if config is not None:
        config.stash[_SUMMARY].record(report)


_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the config for hooks that are not given it."""
    _CONFIG["config"] = session.config


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the table of checks and write reports/summary.md."""
    summary = config.stash[_SUMMARY]
    summary.terminal(terminalreporter)
    path = summary.write()
    if path is not None:
        terminalreporter.line(f"summary: {path}")
