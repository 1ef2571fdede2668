"""The canary: credentials a target hands out travel every path the harness has, and none reaches a byte it writes.

The subscriptions reference target answers register with a JWT access token, a JWT refresh token nested in a
``session`` object and opaque recovery codes (secret only because the profile names them), and its ``me`` setup
step with a personal API key (secret by its name). A faulty variant (no dedupe) makes a check fail, so failure
messages, evidence attachments, JUnit and Allure carry the exchanges; a page that can't be automated saves a
screenshot, the HTML and a Playwright trace.
"""

from __future__ import annotations

import json
from pathlib import Path

from smoke.embedded import Embedded

from _scan import JWT_SHAPE, report_texts, stripe_smoke

PASSWORD = "Canary-Passw0rd-7c1e"


def test_no_issued_credential_reaches_output_or_reports(tmp_path: Path, stack) -> None:  # type: ignore[no-untyped-def]
    running: Embedded = stack("no_dedupe", profile="subscriptions")
    reports = tmp_path / "reports"
    env = {"STRIPE_WEBHOOK_SECRET": running.webhook_secret, "STRIPE_API_KEY": running.stripe_api_key or "",
           "STRIPE_API_BASE": running.stripe_api_base or "", "SMOKE_TARGET": "subscriptions",
           "BASE_URL": running.base_url, "SMOKE_BUYER_PASSWORD": PASSWORD, "SMOKE_REPORTS_DIR": str(reports)}
    outputs = []

    def cli(*args: str, expect: int) -> str:
        result = stripe_smoke(tmp_path, *args, env=env)
        outputs.extend((result.stdout, result.stderr))
        assert result.returncode == expect, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return result.stdout

    checked = cli("profile", "check", "subscriptions", expect=0)
    assert "answered" in checked and "[redacted]" in checked

    # A failing run: the credit and Checkout checks fail with evidence attached.
    cli("run", "--phase", "all", "--payer", "api", "--smoke-timeout", "2", "--settle-seconds", "0.1",
        "-k", "exact_amount or checkout or redelivery", expect=1)
    assert "does not dedupe on the event id" in (reports / "summary.md").read_text()

    # The two phases by hand: create, a page that can't be automated (evidence saved), pay by API, verify.
    cli("checkout", "create", expect=0)
    receipt = max((reports / "receipts").glob("*.json"), key=lambda p: p.stat().st_mtime)
    data = json.loads(receipt.read_text())
    base, fragment = data["checkout_url"].split("#", 1)
    page = dict(data, checkout_url=f"{base}?layout=botcheck#{fragment}")
    receipt.write_text(json.dumps(page))
    assert "checkout-trace.zip" in cli("checkout", "pay", "--receipt", str(receipt), expect=1)
    receipt.write_text(json.dumps(data))
    cli("checkout", "pay", "--receipt", str(receipt), "--via", "api", expect=0)
    cli("checkout", "verify", "--receipt", str(receipt), "--deadline", "20", expect=0)

    issued = list(running.target.app.config["ISSUED"])
    assert len([s for s in issued if JWT_SHAPE.fullmatch(s)]) >= 6, "the target issued tokens on every path"
    assert any(s.startswith("uk_") for s in issued) and any(len(s) == 10 for s in issued)
    secrets = [*issued, running.webhook_secret, running.stripe_api_key or "", PASSWORD]
    everything = [*outputs, *report_texts(reports)]
    assert any("checkout-trace.zip" in str(p) for p in reports.rglob("*"))
    assert any("recovery_codes" in text for text in everything), "the register answer is in the evidence"
    for text in everything:
        assert not JWT_SHAPE.search(text), f"a JWT reached the output or the reports: {JWT_SHAPE.search(text)}"
        for secret in secrets:
            assert secret not in text, "an issued credential reached the output or the reports"
