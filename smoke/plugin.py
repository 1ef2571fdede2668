"""The pytest plugin: options under one group, markers, fixtures, verdicts and redacted reports.

It is registered through the ``pytest11`` entry point, so it loads in every pytest session of an environment
where stripe-smoke is installed: its hooks act only on the harness's own checks (items that use its fixtures),
its heavy imports wait until a check runs, and its state lives in the config's stash.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from smoke._fixtures import (  # noqa: F401  (fixtures)
    NEEDS,
    smoke,
    smoke_checkout_ahead,
    smoke_embedded,
    smoke_foundations,
    smoke_profile,
    smoke_redactor,
    smoke_settings,
    smoke_target,
)
from smoke.checkout.ahead import CHECK as CHECKOUT_CHECK
from smoke.config import OPTIONS
from smoke.errors import SmokeError
from smoke.reporting import MARK, Summary, area_of
from smoke.settings_source import run_redactor
from smoke.verdicts import CAUSE_PROPERTY, EXIT_INCONCLUSIVE, VERDICT_PROPERTY, Verdict

_SUMMARY = pytest.StashKey[Summary]()
EXIT_PROPERTY = "stripe_smoke_exit"
MARKERS = {
    "smoke_simulated": "smoke_simulated: the check sends simulated signed events (refused against production targets)",
    "smoke_needs": "smoke_needs(capability, ...): the check skips unless the profile supports each capability "
                   f"({', '.join(NEEDS)})",
    "smoke_depends_on": "smoke_depends_on(foundation): the check is blocked when that foundation (route, credit, "
                        "dedupe) or one beneath it failed",
}
# How much a broken check costs a release: the credit path is a blocker.
SEVERITY = {"credit": "blocker", "checkout": "blocker", "payment intent": "blocker", "signature": "critical",
            "idempotency": "critical", "non-crediting": "critical", "refunds": "critical", "drills": "critical"}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the options (each also an environment variable and a ``smoke_*`` ini key; see README)."""
    group = parser.getgroup("stripe-smoke", "stripe-smoke: check a billing API against Stripe payments")
    for option in OPTIONS:
        if option.kind is bool:
            group.addoption(option.flag, dest=f"smoke_{option.name}", action="store_true", default=None,
                            help=option.help_text())
        else:
            group.addoption(option.flag, dest=f"smoke_{option.name}", default=None, metavar=option.name.upper(),
                            help=option.help_text())
        parser.addini(f"smoke_{option.name}", f"stripe-smoke: {option.help} (below {option.flag} and the environment)",
                      default="")
    group.addoption("--env-file", dest="smoke_env_file", default=None, metavar="PATH",
                    help="read settings from this file instead of ./.env")
    group.addoption("--secret-file", dest="smoke_secret_file", default=None, metavar="PATH",
                    help="read secrets (KEY=VALUE lines: STRIPE_WEBHOOK_SECRET, passwords…) from this file; every "
                         "value is masked in all output [env SMOKE_SECRET_FILE]")
    parser.addini("smoke_env_file", "stripe-smoke: the .env file to read", default="")
    parser.addini("smoke_secret_file", "stripe-smoke: the secret file to read", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers and register the reporter that collects the verdicts."""
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    reporter = _Reporter(config)
    config.stash[_SUMMARY] = reporter.summary
    config.pluginmanager.register(reporter, "stripe-smoke-reporter")


def _is_ours(item: pytest.Item) -> bool:
    return "smoke_settings" in getattr(item, "fixturenames", ())


def _wanted(config: pytest.Config) -> bool:
    """Whether this session runs the harness (its suites, or any of its options given)."""
    if any(config.getoption(f"smoke_{o.name}") not in (None, False) for o in OPTIONS):
        return True
    return any("smoke/suites" in str(a).replace("\\", "/") or "smoke.suites" in str(a) for a in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Check settings, profile, secret and target once, before collection and before any xdist worker starts:
    a problem is one sentence on stderr and its exit code (4 configuration, 3 unreachable), not a traceback."""
    if hasattr(config, "workerinput") or not _wanted(config):
        return None
    if any(config.getoption(name, None) for name in ("help", "version", "showfixtures", "show_fixtures_per_test",
                                                     "markers")):
        return None
    from smoke.preflight import preflight

    try:
        preflight(config, reach_target=not config.getoption("collectonly", False))
    except SmokeError as exc:
        message = run_redactor(config).redact(str(exc))
        sys.stderr.write(f"stripe-smoke: {message}\n")
        if getattr(config.option, "xmlpath", None):  # --junitxml: a CI gate reading it sees why nothing ran
            from smoke.preflight import write_stopped_junit

            write_stopped_junit(config.option.xmlpath, message, exc.exit_code)
        return exc.exit_code
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Each stripe-smoke setting and where it came from (secrets masked), when the session runs the harness."""
    if not _wanted(config):
        return []
    from smoke.settings_source import header_lines

    return header_lines(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check the harness's markers, and give each check its Allure feature and severity."""
    for item in items:
        for marker in item.iter_markers("smoke_needs"):
            unknown = [c for c in marker.args if c not in NEEDS]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.smoke_needs({', '.join(map(repr, unknown))}) "
                                        f"is not a capability; use one of {', '.join(NEEDS)}.")
        if _is_ours(item):
            area = area_of(item.nodeid)
            item.add_marker(pytest.mark.allure_label(area, label_type="feature"))
            item.add_marker(pytest.mark.allure_label(SEVERITY.get(area, "normal"), label_type="severity"))
            item.add_marker(pytest.mark.allure_label("stripe-smoke", label_type="epic"))
    # Real Checkout last: its create and pay phases start with the first check (pytest_collection_finish), so by the
    # time it runs the browser has paid while every other check ran.
    items.sort(key=lambda item: getattr(item, "originalname", item.name) == CHECKOUT_CHECK and _is_ours(item))


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a serial run that includes real Checkout, its create and pay phases start with the first check.

    Not in an xdist worker: every worker sees every item, and only one of them will run the Checkout check."""
    ours = [item for item in session.items if _is_ours(item)]
    if not ours or hasattr(session.config, "workerinput"):
        return
    if any(getattr(item, "originalname", item.name) == CHECKOUT_CHECK for item in ours[1:]):
        names = getattr(ours[0], "fixturenames", None)
        if isinstance(names, list) and "smoke_checkout_ahead" not in names:
            names.append("smoke_checkout_ahead")


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Attach the check's evidence to its own result (not to a fixture's teardown)."""
    yield
    helper = getattr(item, "funcargs", {}).get("smoke")
    if helper is not None and _is_ours(item):
        from smoke.evidence import attach_evidence

        attach_evidence(item, helper, helper.exchanges())


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Title the check's Allure result with the first line of its docstring (and its parameter)."""
    if not _is_ours(item) or not item.config.getoption("allure_report_dir", None):
        return
    doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().splitlines()
    if doc:
        import allure

        param = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
        allure.dynamic.title(doc[0].rstrip(".") + param)


# trylast: this wrapper sits inside other plugins' (Allure's), so they read the report after it is redacted.
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """For the harness's checks: one-line SmokeErrors, verdict and cause properties, and redacted reports."""
    outcome = yield
    if not _is_ours(item):
        return
    report: pytest.TestReport = outcome.get_result()
    report.user_properties.append(MARK)
    redactor = run_redactor(item.config)
    if call.excinfo is not None and call.excinfo.errisinstance(SmokeError):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
        if call.when == "setup":  # a fixture could not prepare the run: the run ends with this error's exit code
            report.user_properties.append((EXIT_PROPERTY, getattr(call.excinfo.value, "exit_code", 1)))
    if call.excinfo is not None:
        _record_verdict(item, report, call.excinfo.value)
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redactor.redact(reason))
    elif report.longrepr is not None:
        text = redactor.redact(str(report.longrepr))
        cause = getattr(call.excinfo.value, "cause", "") if call.excinfo is not None else ""
        report.longrepr = f"{text}\n[stripe-smoke cause: {cause}]" if cause and report.failed else text
    report.sections = [(title, redactor.redact(text)) for title, text in report.sections]


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


class _Reporter:
    """Collects every check's verdict (on the xdist controller too, where workers' reports arrive) and renders them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.summary = Summary(config)
        self.setup_error: tuple[int, str] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold one report into the summary; remember the first set-up error that ends the run."""
        self.summary.record(report)
        code = dict(report.user_properties).get(EXIT_PROPERTY)
        if code and self.setup_error is None:
            self.setup_error = (int(str(code)), str(report.longrepr).splitlines()[0] if report.longrepr else "")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Blocked by a failure fails the run; inconclusive gets its own exit code; Allure gets its environment."""
        if self.summary.rows and not hasattr(self.config, "workerinput"):
            from smoke.allure_extras import write_allure_extras

            write_allure_extras(self.config, {row.cause for row in self.summary.rows.values() if row.cause})
        if self.setup_error is not None and self.setup_error[0] != 1:
            session.exitstatus = self.setup_error[0]  # the run could not start: configuration (4) or unreachable (3)
            return
        if exitstatus != 0:
            return
        if self.summary.blocked_by_failure:
            session.exitstatus = 1
        elif any(row.verdict == Verdict.INCONCLUSIVE.value for row in self.summary.rows.values()):
            session.exitstatus = EXIT_INCONCLUSIVE

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the table of checks and write reports/summary.md."""
        self.summary.terminal(terminalreporter)
        if self.setup_error is not None:
            terminalreporter.write_line(f"stripe-smoke: {self.setup_error[1].split(': ', 1)[-1]}", red=True)
        path = self.summary.write()
        if path is not None:
            terminalreporter.line(f"summary: {path}")
