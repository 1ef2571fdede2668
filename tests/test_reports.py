"""Release gating: reports are written, verdicts are the same in parallel, and nothing secret leaks."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import httpx

from smoke.servers import RunningServer

from _scan import report_texts, stripe_smoke

PASSWORD = "Corr3ct-Horse-Battery-Staple"
EMAIL = "gate@example.test"
API_KEY = "sk_test_" + "Kq7" * 12


def stripe_smoke_run(reports: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return stripe_smoke(reports.parent, "run", "--reports-dir", str(reports), *args, env=env)


def verdicts(junit: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
        result[f"{case.get('classname')}.{case.get('name')}"] = outcome
    return result


def test_failing_run_writes_reports_and_leaks_no_secret(tmp_path: Path, webhook_secret: str,
                                                        start_topups: Callable[..., RunningServer]) -> None:
    server = start_topups("no_signature_check", "no_dedupe", "wrong_amount")
    httpx.post(f"{server.url}/api/org/register", timeout=10,
               json={"orgName": "gate", "email": EMAIL, "password": PASSWORD, "apiKeyName": "k"}).raise_for_status()
    reports = tmp_path / "reports"
    result = stripe_smoke_run(reports, "--base-url", server.url, "--settle-seconds", "0.1", "--smoke-timeout", "2", env={
        "STRIPE_WEBHOOK_SECRET": webhook_secret, "STRIPE_API_KEY": API_KEY,
        "SMOKE_BUYER_EMAIL": EMAIL, "SMOKE_BUYER_PASSWORD": PASSWORD, "GITHUB_STEP_SUMMARY": str(tmp_path / "step.md")})
    assert result.returncode == 1, result.stdout[-3000:]

    summary = (reports / "summary.md").read_text()
    assert "| check | verdict | time | cause | reason |" in summary and summary.index("### credit") < summary.index("### preflight")
    assert "❌ failed" in summary and "credited the wrong amount" in summary
    assert (tmp_path / "step.md").read_text() == summary
    assert "stripe-smoke summary" in result.stdout
    assert any(reports.joinpath("allure-results").glob("*-result.json"))
    assert any("HTTP exchanges (redacted)" in p.read_text() for p in reports.joinpath("allure-results").glob("*.json"))
    assert verdicts(reports / "junit.xml")

    with server.app.config["DB"].connect() as db:
        tokens = [row[0] for row in db.execute("SELECT token FROM tokens")]
    secrets = [webhook_secret, API_KEY, PASSWORD, *tokens]
    everything = [result.stdout, result.stderr] + [p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()]
    for secret in secrets:
        for text in everything:
            assert secret not in text, "a secret reached the output or the reports"


def test_parallel_run_gives_the_same_verdicts(tmp_path: Path, webhook_secret: str,
                                              start_topups: Callable[..., RunningServer]) -> None:
    server = start_topups("credits_unpaid", "error_on_unknown")
    env = {"STRIPE_WEBHOOK_SECRET": webhook_secret}
    common = ("--base-url", server.url, "--settle-seconds", "0.1", "--smoke-timeout", "2")
    serial = stripe_smoke_run(tmp_path / "serial" / "reports", *common, env=env)
    parallel = stripe_smoke_run(tmp_path / "parallel" / "reports", *common, "-n", "2", env=env)
    assert serial.returncode == parallel.returncode == 1
    a = verdicts(tmp_path / "serial" / "reports" / "junit.xml")
    b = verdicts(tmp_path / "parallel" / "reports" / "junit.xml")
    # credits_unpaid fails the unpaid session and the delayed payment's first step; error_on_unknown the unknown type
    assert a == b and len(a) >= 22 and list(a.values()).count("failure") == 3
    summary = (tmp_path / "parallel" / "reports" / "summary.md").read_text()
    assert summary.count("❌ failed") == 3 and summary.count("| `test_") == len(a)


def test_checkout_run_leaks_no_key_token_password_or_card(tmp_path: Path) -> None:
    """A failing real-Checkout run and a page that can't be automated leave evidence, and none of it holds a secret."""
    import json

    from smoke.embedded import start_embedded
    from smoke.profiles import load_profile

    card = "4000000000000002"  # declined: the Checkout check fails and says so
    running = start_embedded(load_profile("demo"), faults={"wrong_amount"})
    try:
        httpx.post(f"{running.base_url}/api/org/register", timeout=10,
                   json={"orgName": "gate", "email": EMAIL, "password": PASSWORD, "apiKeyName": "k"}).raise_for_status()
        reports = tmp_path / "reports"
        env = {"STRIPE_WEBHOOK_SECRET": running.webhook_secret, "STRIPE_API_KEY": running.stripe_api_key or "",
               "STRIPE_API_BASE": running.stripe_api_base or "", "SMOKE_BUYER_EMAIL": EMAIL,
               "SMOKE_BUYER_PASSWORD": PASSWORD, "SMOKE_PHASE": "all", "SMOKE_CARD": card, "SMOKE_REPORTS_DIR": str(reports)}
        result = stripe_smoke_run(reports, "--base-url", running.base_url, "--settle-seconds", "0.1",
                                  "--smoke-timeout", "2", "-k", "checkout or exact_amount", env=env)
        assert result.returncode == 1, result.stdout[-3000:]
        summary = (reports / "summary.md").read_text()
        assert "test_checkout_payment_is_credited" in summary and "declined" in summary

        # A page the browser can't read: the pay phase saves a screenshot, the HTML, the frames and a trace.
        receipt = next((reports / "receipts").glob("*.json"))
        data = json.loads(receipt.read_text())
        base, fragment = data["checkout_url"].split("#", 1)
        data["checkout_url"] = f"{base}?layout=botcheck#{fragment}"
        receipt.write_text(json.dumps(data))
        paid = subprocess.run([sys.executable, "-m", "smoke.cli", "checkout", "pay", "--receipt", str(receipt),
                               "--card", card], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**os.environ, **env})
        assert paid.returncode == 1 and "checkout-trace.zip" in paid.stdout, paid.stdout + paid.stderr

        with running.target.app.config["DB"].connect() as db:
            tokens = [row[0] for row in db.execute("SELECT token FROM tokens")]
    finally:
        running.stop()
    everything = [result.stdout, result.stderr, paid.stdout, paid.stderr, *report_texts(reports)]
    assert any("checkout-trace.zip" in name for name in map(str, reports.rglob("*")))
    for secret in [running.webhook_secret, running.stripe_api_key or "", PASSWORD, card, "4000 0000 0000 0002", *tokens]:
        assert secret
        for text in everything:
            assert secret not in text, "a secret or the card number reached the output or the reports"
