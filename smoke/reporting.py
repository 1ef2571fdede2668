"""The end-of-run table and ``summary.md``: check, verdict, time, cause and the one-line reason, by area."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from smoke.redact import Redactor
from smoke.settings_source import run_redactor
from smoke.verdicts import CAUSE_PROPERTY, VERDICT_PROPERTY

MARK = ("stripe_smoke", "check")
LOAD_PROPERTY = "stripe_smoke_load"  # a burst's throughput and acknowledgement times, shown under its area's table
ICONS = {"passed": "✅ passed", "failed": "❌ failed", "blocked": "⛔ blocked", "inconclusive": "❔ inconclusive",
         "skipped": "⏭ skipped", "error": "💥 error"}
# The order verdicts are listed in: what needs attention first.
_ORDER = ["error", "failed", "blocked", "inconclusive", "passed", "skipped"]
# Each suite module's area (Allure feature, summary section).
AREAS = {"test_preflight": "preflight", "test_credit": "credit", "test_signature": "signature",
         "test_idempotency": "idempotency", "test_non_crediting": "non-crediting", "test_robustness": "robustness",
         "test_refunds": "refunds", "test_checkout": "checkout", "test_payment_intent": "payment intent",
         # The failure-path drills: what loses money when something goes wrong.
         "test_transient": "drills", "test_stripe_outage": "drills", "test_failure_paths": "drills", "test_burst": "drills"}


def area_of(nodeid: str) -> str:
    """The area of a check from its node id (``…/test_signature.py::…`` → ``signature``)."""
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return AREAS.get(module, module.removeprefix("test_").replace("_", " "))


@dataclass
class Row:
    """One check's verdict."""

    check: str
    verdict: str
    seconds: float
    reason: str
    area: str = ""
    cause: str = ""
    load: str = ""  # the load a burst check measured (``stripe_smoke_load``)


def _reason(report: pytest.TestReport, redactor: Redactor) -> str:
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        text = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        text = str(report.longrepr or "")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[stripe-smoke cause")]
        # A pytest.fail message is the first "E   …" line, or the whole text when shown without a traceback.
        errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
        text = errors[0] if errors else (lines[-1] if lines else "")
        text = text.removeprefix("Failed: ")
    return redactor.redact(" ".join(text.split()))[:400]


class Summary:
    """Collects the verdict of every smoke check (also from xdist workers) and renders them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, Row] = {}
        self.blocked_by_failure = False

    def record(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into the check's row."""
        if MARK not in report.user_properties:
            return
        name = report.nodeid.split("/")[-1]
        row = self.rows.setdefault(report.nodeid, Row(name, "passed", 0.0, "", area_of(report.nodeid)))
        row.seconds += report.duration
        properties = dict(p for p in report.user_properties if isinstance(p, tuple) and len(p) == 2)
        if properties.get(VERDICT_PROPERTY + "_fails_run"):
            self.blocked_by_failure = True
        if properties.get(LOAD_PROPERTY):
            row.load = str(properties[LOAD_PROPERTY])
        if report.when == "call" or report.outcome != "passed":
            outcome: str = "error" if report.failed and report.when != "call" else report.outcome
            verdict = str(properties.get(VERDICT_PROPERTY, outcome))
            if verdict != "passed" or row.verdict == "passed":
                row.verdict, row.reason = verdict, _reason(report, run_redactor(self.config)) or row.reason
                row.cause = str(properties.get(CAUSE_PROPERTY, row.cause))

    def counts(self) -> dict[str, int]:
        """How many checks got each verdict (only verdicts that occur)."""
        counts = {v: sum(r.verdict == v for r in self.rows.values()) for v in _ORDER}
        return {v: n for v, n in counts.items() if n}

    def _grouped(self) -> list[tuple[str, list[Row]]]:
        """Rows by area: areas with failures first, and within an area the failures first."""
        areas: dict[str, list[Row]] = {}
        for row in self.rows.values():
            areas.setdefault(row.area, []).append(row)
        rank = {v: i for i, v in enumerate(_ORDER)}
        groups = [(area, sorted(rows, key=lambda r: rank.get(r.verdict, 9))) for area, rows in areas.items()]
        return sorted(groups, key=lambda g: rank.get(g[1][0].verdict, 9))

    def _context(self) -> str:
        from smoke.errors import ConfigError
        from smoke.settings_source import settings_for

        try:
            settings, _ = settings_for(self.config)
        except ConfigError:
            return "stripe-smoke"
        where = settings.base_url or "the embedded target"
        return run_redactor(self.config).redact(f"Target `{settings.target}` at {where}")

    def markdown(self) -> str:
        """The summary as markdown, fit for $GITHUB_STEP_SUMMARY: context and counts, then the checks by area."""
        head = ", ".join(f"{n} {v}" for v, n in self.counts().items())
        lines = ["## stripe-smoke", "", f"{self._context()} — **{head}**", ""]
        for area, rows in self._grouped():
            lines += [f"### {area}", "", "| check | verdict | time | cause | reason |", "|---|---|---|---|---|"]
            for row in rows:
                reason = row.reason.replace("|", "\\|")
                cause = f"`{row.cause}`" if row.cause else ""
                lines.append(f"| `{row.check}` | {ICONS[row.verdict]} | {row.seconds:.2f}s | {cause} | {reason} |")
            lines.append("")
            lines += [f"- load held by `{row.check}`: {row.load}" for row in rows if row.load]
            if any(row.load for row in rows):
                lines.append("")
        return "\n".join(lines)

    def terminal(self, writer: pytest.TerminalReporter) -> None:
        """Print the table at the end of the run."""
        if not self.rows:
            return
        writer.section("stripe-smoke summary")
        width = min(70, max(len(r.check) for r in self.rows.values()))
        for row in self.rows.values():
            line = f"{row.check[:width]:<{width}}  {row.verdict:<12}  {row.seconds:6.2f}s"
            if row.reason or row.load:
                line += f"  {(row.reason or 'load held: ' + row.load)[:160]}"
            writer.line(line, red=row.verdict in ("failed", "error", "blocked"), green=row.verdict == "passed",
                        yellow=row.verdict == "inconclusive")

    def write(self) -> Path | None:
        """Write ``summary.md`` into the reports folder (and append to $GITHUB_STEP_SUMMARY when set)."""
        if not self.rows:
            return None
        folder = Path(self.config.getoption("smoke_reports_dir") or os.environ.get("SMOKE_REPORTS_DIR") or "reports")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "summary.md"
        text = self.markdown()
        path.write_text(text, encoding="utf-8")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(text)
        return path

