"""``stripe-smoke profile check``: validates, runs the read steps, shows each exchange with secrets redacted."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smoke.cli import main
from smoke.reference import invoices, topups
from smoke.servers import RunningServer


@pytest.fixture
def topups_server() -> Iterator[RunningServer]:
    """A correct top-ups target."""
    server = topups.start("whsec_" + secrets.token_urlsafe(24))
    yield server
    server.stop()


@pytest.fixture
def invoices_server() -> Iterator[RunningServer]:
    """A correct invoices target."""
    server = invoices.start("whsec_" + secrets.token_urlsafe(24))
    yield server
    server.stop()


def test_check_runs_steps_and_redacts_secrets(topups_server: RunningServer, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step's request and answer are shown, the state is read, and tokens and passwords never appear."""
    monkeypatch.setenv("SMOKE_BUYER_PASSWORD", "very-secret-Passw0rd")
    code = main(["profile", "check", "demo", "--base-url", topups_server.url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "profile 'demo' is valid" in out
    assert "POST http://127.0.0.1" in out and "/api/org/register → 201" in out
    assert "value: 0 — expected after one payment: 0 → 500 (+500)" in out
    assert "[purchase] POST /api/billing/topups/checkout" in out and "[webhook] not sent" in out
    assert "very-secret-Passw0rd" not in out and '"token": "[redacted]"' in out


def test_no_create_sends_only_get_steps(invoices_server: RunningServer, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-create skips the invoice-creating step (nothing is created) and says why the state cannot be read."""
    monkeypatch.setenv("SMOKE_WORKSPACE_ID", "ws_check")
    code = main(["profile", "check", "invoices", "--base-url", invoices_server.url, "--no-create"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[setup invoice (per check)] skipped: POST /api/v1/billing/invoices creates something (--no-create)" in out
    assert "needs invoice, not created" in out
    listed = httpx.get(f"{invoices_server.url}/api/v1/billing/invoices", params={"workspace_id": "ws_check"},
                       headers={"X-API-Key": invoices.SERVICE_KEY}, timeout=5).json()
    assert listed["invoices"] == []
    assert invoices.SERVICE_KEY not in out


def test_given_invoice_and_list_filter(invoices_server: RunningServer, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With SMOKE_INVOICE_ID the step is not sent, and the state filter picks that invoice out of the list."""
    headers, params = {"X-API-Key": invoices.SERVICE_KEY}, {"workspace_id": "ws_given"}
    for _ in range(2):
        created = httpx.post(f"{invoices_server.url}/api/v1/billing/invoices", params=params, headers=headers,
                             json={"amount_due": 900}, timeout=5).json()
    monkeypatch.setenv("SMOKE_WORKSPACE_ID", "ws_given")
    monkeypatch.setenv("SMOKE_INVOICE_ID", created["id"])
    code = main(["profile", "check", "invoices", "--base-url", invoices_server.url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f'given, not sent: {{"id": "{created["id"]}"}}' in out
    assert "value: 'open' — expected after one payment: open → paid" in out


def test_a_failing_step_fails_the_check(invoices_server: RunningServer, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong service key: the step's status and answer are shown and the exit code is 1."""
    monkeypatch.setenv("SMOKE_INVOICES_API_KEY", "svc_wrong_key_123")
    code = main(["profile", "check", "invoices", "--base-url", invoices_server.url])
    out = capsys.readouterr().out
    assert code == 1 and "answered 401" in out and "step(s) failed" in out, out
    assert "svc_wrong_key_123" not in out


def test_invalid_profile_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken profile exits 4 with the file, the key and the fix."""
    path = tmp_path / "mine.toml"
    path.write_text('[webhook]\npath = "/hook"\n[state]\nrequest = "GET /x"\nvalue = "v"\n[efect]\ndelta = 1\n')
    assert main(["profile", "check", str(path)]) == 4
    assert "did you mean 'effect'" in capsys.readouterr().err
