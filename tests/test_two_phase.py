"""Real Checkout in phases on the demo target and the local Stripe: create, pay and verify, and each verdict."""

from __future__ import annotations

import io
import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from smoke import phases
from smoke.embedded import Embedded

from _phases import CLI, created, env_for, settings_for


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one stripe-smoke command in its own process."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240, env=env, cwd=cwd)


def behind_a_bot_check(receipt_path: Path) -> None:
    """Point the receipt at the same session's page as a bot check shows it to the browser."""
    receipt = json.loads(receipt_path.read_text())
    base, fragment = receipt["checkout_url"].split("#", 1)
    receipt["checkout_url"] = f"{base}?layout=botcheck#{fragment}"
    receipt_path.write_text(json.dumps(receipt))


def set_layout(running: Embedded, layout: str) -> None:
    """Choose the hosted page's layout for sessions paid from now on."""
    httpx.post(f"{running.stripe_api_base}/_emulator/settings", json={"layout": layout}, timeout=10).raise_for_status()


def test_create_pay_and_verify_each_in_its_own_process(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    env = env_for(running, tmp_path / "reports")

    made = cli("checkout", "create", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    receipt = Path(made.stdout.split("receipt:", 1)[1].split()[0])
    url_file = Path(made.stdout.split("checkout URL:", 1)[1].split()[0])
    url = url_file.read_text().strip()
    assert "#" in url and url in made.stdout  # the fragment is part of the URL the page needs
    assert stat.S_IMODE(receipt.stat().st_mode) == 0o600
    stored = json.loads(receipt.read_text())
    assert stored["status"] == "created" and stored["session_id"].startswith("cs_test_")

    paid = cli("checkout", "pay", "--receipt", str(receipt), env=env, cwd=tmp_path)
    assert paid.returncode == 0, paid.stdout + paid.stderr
    assert "pay (browser): succeeded" in paid.stdout

    checked = cli("checkout", "verify", "--receipt", str(receipt), "--deadline", "60", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Verified: the credit state went 0 → 500 (+500)" in checked.stdout
    assert "payment intent pi_" in checked.stdout and "event evt_" in checked.stdout
    assert [h["phase"] for h in json.loads(receipt.read_text())["history"]] == ["create", "pay (browser)", "verify"]

    again = cli("checkout", "verify", "--receipt", str(receipt), env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already verified" in again.stdout


def test_one_shot_flow_runs_all_three_phases(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    done = cli("checkout", "all", "--via", "api", "--deadline", "60", env=env_for(running, tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pay (api): succeeded" in done.stdout and "Verified:" in done.stdout


@pytest.mark.parametrize("layout", ["accordion", "card", "iframe", "embedded", "legacy"])
def test_browser_pays_every_layout_and_the_credit_is_verified(layout: str, stack: Callable[..., Embedded],
                                                              tmp_path: Path) -> None:
    running = stack()
    set_layout(running, layout)
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    assert phases.pay(path, settings, via="browser").status == "succeeded"
    assert phases.verify(path, settings, deadline=60).code == "verified"


@pytest.mark.parametrize(("card", "three_ds", "pay_status", "verdict"), [
    ("4000000000000002", "complete", "declined", "not_paid"),
    ("4000002500003155", "complete", "succeeded", "verified"),
    ("4000002500003155", "fail", "declined", "not_paid"),
])
def test_browser_outcomes_reach_the_right_verdict(card: str, three_ds: str, pay_status: str, verdict: str,
                                                  stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    assert phases.pay(path, settings, via="browser", card=card, three_ds=three_ds).status == pay_status
    result = phases.verify(path, settings, deadline=60 if verdict == "verified" else 2)
    assert result.code == verdict, result.message
    if verdict == "not_paid":
        assert "Not yet paid: Stripe says the session is open/unpaid" in result.message and result.exit_code == 10


@pytest.mark.parametrize(("card", "pay_status", "verdict"), [
    ("4242424242424242", "succeeded", "verified"),
    ("4000000000000002", "declined", "not_paid"),
    ("4000000000009995", "declined", "not_paid"),
    ("4000002500003155", "failed", "not_paid"),
])
def test_api_payer_maps_each_card_as_the_page_does(card: str, pay_status: str, verdict: str,
                                                   stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    paid = phases.pay(path, settings, via="api", card=card)
    assert (paid.status, paid.payer) == (pay_status, "api"), paid.message
    if card == "4000002500003155":
        assert "3D Secure" in paid.message and "--via browser" in paid.message
    if card == "4000000000009995":
        assert "insufficient funds" in paid.message.lower()
    result = phases.verify(path, settings, deadline=60 if verdict == "verified" else 2)
    assert result.code == verdict, result.message


def test_api_payer_refuses_a_live_key(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    path = created(running, tmp_path)
    env = {**env_for(running, tmp_path), "STRIPE_API_KEY": "sk_live_" + "x" * 24}
    refused = cli("checkout", "pay", "--receipt", str(path), "--via", "api", env=env, cwd=tmp_path)
    assert refused.returncode == 4 and "live" in refused.stderr.lower() and "Traceback" not in refused.stderr
    assert "x" * 24 not in refused.stdout + refused.stderr


def test_browser_falls_back_to_the_api_when_the_page_cannot_be_automated(stack: Callable[..., Embedded],
                                                                         tmp_path: Path) -> None:
    running = stack()
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    behind_a_bot_check(path)

    out = tmp_path / "pay.log"
    with out.open("w") as log:
        paid = phases.pay(path, settings, via="browser", fallback="api", out=log)
    assert (paid.status, paid.payer) == ("succeeded", "api (fallback)")
    assert "paying through the API instead (--fallback api)" in out.read_text()
    assert phases.verify(path, settings, deadline=60).code == "verified"


def test_browser_without_fallback_leaves_evidence_and_says_what_to_do(stack: Callable[..., Embedded],
                                                                      tmp_path: Path) -> None:
    running = stack()
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    behind_a_bot_check(path)
    paid = phases.pay(path, settings, via="browser", out=io.StringIO())
    assert paid.status == "failed" and paid.artifacts
    assert {p.suffix for p in paid.artifacts} >= {".png", ".html"}
    assert all(p.is_relative_to(tmp_path / "artifacts") for p in paid.artifacts)
    assert phases.verify(path, settings, deadline=1).code == "not_paid"


def test_person_payer_waits_with_a_live_status_until_someone_pays(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    from smoke.checkout.driver import pay as pay_in_browser

    running = stack()
    env = env_for(running, tmp_path / "reports")
    path = created(running, tmp_path / "reports")
    waiting = subprocess.Popen([*CLI, "checkout", "pay", "--receipt", str(path), "--via", "person", "--deadline", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert waiting.stdout is not None
        lines = []
        for line in waiting.stdout:  # the person reads the URL, then sees the wait has started
            lines.append(line)
            if "waiting for payment" in line:
                break
        url = next(line.strip() for line in lines if line.startswith("http"))
        assert "session open/unpaid" in lines[-1] and "credit state 0" in lines[-1]
        assert pay_in_browser(url, timeout=60, artifacts_dir=tmp_path / "art").status == "succeeded"
        rest, errors = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, rest + errors
    assert "pay (person): succeeded" in rest
    settings = settings_for(running, tmp_path / "reports")
    assert phases.verify(path, settings, deadline=60).code == "verified"


# -- verify explains which link broke -------------------------------------------------------------------------------


def test_a_failing_webhook_is_reported_as_paid_but_not_credited(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    running.target.app.config["WEBHOOK_SECRET"] = "whsec_" + "not-the-endpoints-secret"  # every delivery gets a 400
    env = env_for(running, tmp_path)
    path = created(running, tmp_path)
    assert cli("checkout", "pay", "--receipt", str(path), "--via", "api", env=env, cwd=tmp_path).returncode == 0
    checked = cli("checkout", "verify", "--receipt", str(path), "--deadline", "3", env=env, cwd=tmp_path)
    assert checked.returncode == 11, checked.stdout + checked.stderr
    message = checked.stdout
    assert "Paid but not credited" in message and "pending delivery (pending_webhooks=1)" in message
    assert "session cs_test_" in message and "payment intent pi_" in message and "event evt_" in message


@pytest.mark.parametrize(("fault", "verdict", "exit_code", "words"), [
    ("wrong_amount", "wrong_amount", 12, "Credited the wrong amount: expected 0 → 500 (+500), saw 5"),
    ("credits_every_success", "credited_twice", 13, "Credited twice: expected 0 → 500 (+500), saw 1000"),
    ("ack_without_credit", "paid_not_credited", 11, "the target acknowledged it without crediting"),
])
def test_each_broken_target_gets_its_own_verdict(fault: str, verdict: str, exit_code: int, words: str,
                                                 stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack(fault)
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    assert phases.pay(path, settings, via="api").status == "succeeded"
    result = phases.verify(path, settings, deadline=3 if verdict == "paid_not_credited" else 30)
    assert (result.code, result.exit_code) == (verdict, exit_code), result.message
    assert words in result.message and "event evt_" in result.message
    assert json.loads(path.read_text())["status"] == verdict


def test_pending_verifies_every_unverified_receipt_into_junit(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    settings = settings_for(running, tmp_path)
    paid, unpaid = created(running, tmp_path), created(running, tmp_path)
    assert phases.pay(paid, settings, via="api").status == "succeeded"
    env = env_for(running, tmp_path)
    result = cli("checkout", "verify", "--pending", "--deadline", "3", env=env, cwd=tmp_path)
    assert result.returncode == 10, result.stdout + result.stderr
    import xml.etree.ElementTree as ET

    suite = ET.parse(tmp_path / "junit-verify.xml").getroot()
    cases = {case.get("name"): case for case in suite}
    assert set(cases) == {paid.stem, unpaid.stem}
    assert not list(cases[paid.stem]) and cases[unpaid.stem][0].get("type") == "not_paid"
    again = cli("checkout", "verify", "--pending", "--deadline", "1", env=env, cwd=tmp_path)
    assert [c.get("name") for c in ET.parse(tmp_path / "junit-verify.xml").getroot()] == [unpaid.stem], again.stdout


def _same(text: str) -> str:
    return text


@pytest.mark.parametrize(("edit", "extra", "words"), [
    (lambda text: text[: len(text) // 2], [], "is not readable JSON"),
    (lambda text: json.dumps({**json.loads(text), "version": 99}), [], "schema version 99"),
    (_same, ["--target", "topups"], "is for target 'demo', not 'topups'"),
    (lambda text: json.dumps({**json.loads(text), "expires_at": "2000-01-01T00:00:00+00:00"}), [], "expired at 2000-01-01"),
    (lambda text: json.dumps({"hello": "world"}), [], "is not a stripe-smoke receipt"),
])
def test_a_bad_receipt_gets_one_clear_sentence(edit: Callable[[str], str], extra: list[str], words: str,
                                               stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    path = created(running, tmp_path)
    original = path.read_text()
    path.write_text(edit(original))
    result = cli("checkout", "verify", "--receipt", str(path), "--deadline", "1", *extra,
                 env=env_for(running, tmp_path), cwd=tmp_path)
    assert result.returncode == 4 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert path.read_text() == edit(original)  # nothing lost: the file is left as it was


def test_a_credit_to_another_account_is_explained_from_the_ledger(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack("credits_wrong_account")
    settings = settings_for(running, tmp_path)
    path = created(running, tmp_path)
    assert phases.pay(path, settings, via="api").status == "succeeded"
    result = phases.verify(path, settings, deadline=3)
    assert result.code == "paid_not_credited", result.message
    assert "the event's metadata: accountId=acct_" in result.message
    assert "the buyer's ledger has no entry for this payment either, so the target credited another account" in result.message


def test_create_pays_at_once_when_told_to_automate(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    env = {**env_for(running, tmp_path / "reports"), "SMOKE_AUTOMATE_CHECKOUT": "true", "SMOKE_PAYER": "api"}
    made = cli("checkout", "create", env=env, cwd=tmp_path)
    assert made.returncode == 0 and "pay (api): succeeded" in made.stdout, made.stdout + made.stderr
    receipt = next((tmp_path / "reports" / "receipts").glob("*.json"))
    assert json.loads(receipt.read_text())["status"] == "paid"
    checked = cli("checkout", "verify", "--receipt", str(receipt), "--deadline", "60", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
