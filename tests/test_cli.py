"""The stripe-smoke command: fast help, send, sign, run, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import stripe

from smoke.servers import RunningServer

CLI = [sys.executable, "-m", "smoke.cli"]


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    script = ("import sys,time; t=time.perf_counter(); from smoke.cli import build_parser; build_parser().format_help(); "
              "print(time.perf_counter()-t); "
              "print(sorted(m for m in ('playwright','stripe','httpx','flask','pytest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    assert float(out[0]) < 0.3 and out[1] == "[]"
    started = time.perf_counter()
    assert "send" in cli("--help").stdout
    assert time.perf_counter() - started < 3  # interpreter start included


def _buyer(url: str) -> tuple[str, str]:
    r = httpx.post(f"{url}/api/org/register", json={"orgName": "cli", "email": "cli@example.test",
                                                    "password": "long-enough-pw", "apiKeyName": "k"}, timeout=10)
    return r.json()["orgId"], r.json()["token"]


def _balance(url: str, token: str) -> int:
    r = httpx.get(f"{url}/api/billing/account", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return r.json()["account"]["balance_cents"]


def test_send_delivers_a_signed_event_with_my_data(start_topups: Callable[..., RunningServer], webhook_secret: str) -> None:
    server = start_topups()
    org, token = _buyer(server.url)
    result = cli("send", "checkout.session.completed", "--to", f"{server.url}/api/webhooks/stripe",
                 "--set", f"data.object.metadata.orgId={org}", "--set", "data.object.amount_total=750",
                 env={"STRIPE_WEBHOOK_SECRET": webhook_secret})
    assert result.returncode == 0, result.stderr
    assert "checkout.session.completed evt_" in result.stdout and "HTTP 200" in result.stdout
    assert _balance(server.url, token) == 750


def test_send_reports_a_rejection_with_exit_code_1(start_topups: Callable[..., RunningServer]) -> None:
    server = start_topups()
    result = cli("send", "checkout.session.completed", "--to", f"{server.url}/api/webhooks/stripe",
                 "--secret", "whsec_not_the_right_one_at_all")
    assert result.returncode == 1 and "HTTP 400" in result.stdout and "stripe_signature_invalid" in result.stdout


def test_sign_prints_a_header_stripe_accepts(tmp_path: Path) -> None:
    secret = "whsec_cli_signing_secret_123456"
    body = '{"id": "evt_1", "object": "event", "type": "ping", "data": {"object": {}}}'
    header = cli("sign", "--secret", secret, stdin=body).stdout.strip()
    assert stripe.Webhook.construct_event(body, header, secret).id == "evt_1"
    curl = cli("sign", "--secret", secret, "--curl", "http://127.0.0.1:9/hook", stdin=body).stdout
    assert curl.startswith("curl -sS -X POST http://127.0.0.1:9/hook") and "Stripe-Signature: t=" in curl


def test_bad_input_is_one_sentence_without_traceback() -> None:
    result = cli("send", "checkout.session.completed", "--to", "not-a-url",
                 env={"STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmn"})
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--to must be an http(s) URL" in result.stderr
    result = cli("sign", "--secret", "sk_test_abcdefghijklmnop", stdin="{}")
    assert result.returncode == 4 and "does not look like a webhook signing secret" in result.stderr
    assert "sk_test_abcdefghijklmnop" not in result.stderr
    assert "warning: --secret on the command line" in result.stderr  # given there: said once, before the error


def test_run_against_the_demo_exits_zero_and_names_checks() -> None:
    result = cli("run", "-q", "-k", "preflight or exact_amount")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_run_with_a_bad_profile_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[state]\nrequest = 'GET /x'\n")
    result = cli("run", "--target", str(bad), "-q")
    assert result.returncode == 4
    assert "bad.toml: [webhook] is missing; add a [webhook] table" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_run_without_a_secret_for_a_deployed_target_says_where_to_find_it() -> None:
    result = cli("run", "--base-url", "http://127.0.0.1:9", env={"STRIPE_WEBHOOK_SECRET": ""})
    assert result.returncode == 4 and result.stderr.startswith("stripe-smoke: No webhook signing secret: set STRIPE_WEBHOOK_SECRET")
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout


def test_run_against_a_target_that_is_down_says_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("run", "--base-url", f"http://127.0.0.1:{port}", "--reports-dir", str(tmp_path / "reports"), "-q",
                 env={"STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmnopqrstuvwx", "SMOKE_HTTP_TIMEOUT": "2"})
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    # Found before collection: one sentence on stderr, nothing else.
    assert result.stderr.strip().splitlines() == [
        f"stripe-smoke: The target at http://127.0.0.1:{port} did not answer (ConnectError); check --base-url and "
        "that the service is running."]
    assert "Traceback" not in result.stdout + result.stderr
