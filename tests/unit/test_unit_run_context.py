"""The run context: what a client knows, how a receipt keeps and restores it, and each run's own redactor."""

from __future__ import annotations

import pytest

from smoke.errors import ConfigError
from smoke.profiles import load_profile
from smoke.redact import Redactor
from smoke.run_context import RunContext
from smoke.target import TargetClient


def test_typed_reads_and_placeholder_sources() -> None:
    context = RunContext(run_id="r1", variables={"email": "a@example.com", "amount": 500})
    context.record("buyer", {"token": "t0k"})
    assert context.email == "a@example.com" and context.amount == 500
    assert context.sources() == {"buyer": {"token": "t0k"}, "run": {"id": "r1"}, "var": context.variables}
    context.forget("buyer")
    assert not context.has("buyer") and context.result("buyer", {}) == {}
    assert RunContext(variables={"amount": True}).amount is None and RunContext().email is None


def test_stored_leaves_out_secret_variables_and_restore_keeps_them() -> None:
    created = RunContext(run_id="r1", variables={"email": "a@example.com", "password": "hunter2-secret"})
    created.record("buyer", {"token": "t0k"})
    created.record("invoice", {"id": "inv_1"})
    stored = created.stored(["buyer", "env", "var", "missing"], secret_vars=["password"])
    assert stored == {"buyer": {"token": "t0k"}, "var": {"email": "a@example.com"}}
    later = RunContext(run_id="r2", variables={"email": "b@example.com", "password": "from-env"})
    later.restore(stored)
    assert later.variables == {"email": "a@example.com", "password": "from-env"}
    assert later.result("buyer") == {"token": "t0k"} and not later.has("invoice")


def test_each_client_has_its_own_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMOKE_BUYER_EMAIL", raising=False)
    mine, other = Redactor(), Redactor()
    client = TargetClient(load_profile("demo"), "http://127.0.0.1:9", webhook_secret="whsec_mine_abcdefgh", redactor=mine)
    TargetClient(load_profile("demo"), "http://127.0.0.1:9", webhook_secret="whsec_other_abcdefgh", redactor=other)
    assert client.redactor is mine and client.context.redactor is mine
    assert "plain-secret-value" in other.redact("plain-secret-value")
    mine.add("plain-secret-value")
    assert "plain-secret-value" not in client.redactor.redact("x plain-secret-value")
    assert "plain-secret-value" in other.redact("x plain-secret-value")


def test_use_known_steps_runs_no_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """After use_known_steps the client reads with what it already knows: no buyer or setup step is sent."""
    client = TargetClient(load_profile("demo"), "http://127.0.0.1:9", webhook_secret=None, http_timeout=1)
    client.context.record("buyer", {"token": "t0k"})
    client.use_known_steps()
    assert client.ensure_buyer() == {"token": "t0k"}
    with pytest.raises(ConfigError, match=r"needs \$\{account:"):  # the setup step's values are unknown, not fetched
        client.credit_fields()
    assert client.exchanges == []  # nothing was sent (nothing listens there: a sent step would raise TargetUnreachable)
    client.close()
