"""``stripe-smoke profile check`` tries everything a run needs: the purchase, the webhook object, every placeholder filled.

The CLI is run as a subprocess wherever the exit code matters; the reference targets create real (local) Checkout
Sessions and PaymentIntents in the Stripe emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smoke.emulator import RunningEmulator, start_emulator
from smoke.errors import ConfigError
from smoke.profiles import builtin_profiles, check_variables, find_profile, load_profile
from smoke.reference import embedded
from smoke.servers import RunningServer
from smoke.target import TargetClient

StartTarget = Callable[..., RunningServer]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A local Stripe for the reference targets' Checkout Sessions and PaymentIntents."""
    running = start_emulator(0)
    yield running
    running.stop()


@pytest.fixture
def start_target(webhook_secret: str, emulator: RunningEmulator) -> Iterator[StartTarget]:
    """Start a reference target by its embedded name, wired to the emulator (or to no Stripe); stopped after the test."""
    started: list[RunningServer] = []

    def start(name: str, *, with_stripe: bool = True) -> RunningServer:
        stripe = {"stripe_api_key": emulator.api_key, "stripe_api_base": emulator.url} if with_stripe else {}
        server = embedded(name)(webhook_secret, **stripe)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def check(*args: str, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``python -m smoke.cli profile check ARGS`` in a clean environment (no SMOKE_* overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKE_") and k not in ("BASE_URL", *unset)}
    return subprocess.run([sys.executable, "-m", "smoke.cli", "profile", "check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _profile_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A shipped profile with one line changed, written to ``tmp_path``."""
    text = find_profile(name).read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / f"{name}-changed.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _data_object(out: str) -> dict[str, Any]:
    """The JSON shown after "will carry in data.object:"."""
    line = next(line for line in out.splitlines() if "will carry in data.object: " in line)
    shown: dict[str, Any] = json.loads(line.split("will carry in data.object: ", 1)[1])
    return shown


def test_purchase_runs_and_its_session_is_shown(start_target: StartTarget, emulator: RunningEmulator) -> None:
    """The [purchase] step creates a Checkout Session through the target; its id and URL are shown, and it is real."""
    server = start_target("topups")
    result = check("demo", "--base-url", server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "credit state: account.balance_cents rises by 500" in out
    assert "[purchase] POST /api/billing/topups/checkout" in out
    session_id = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("session id:"))
    assert session_id.startswith("cs_test_")
    assert f"checkout URL:   {emulator.url}/c/pay/{session_id}" in out
    assert "payment intent: (none yet: paymentIntentId is empty in the answer)" in out
    session = httpx.get(f"{emulator.url}/v1/checkout/sessions/{session_id}", auth=(emulator.api_key, ""), timeout=10).json()
    assert session["id"] == session_id and session["status"] == "open"


def test_purchase_of_a_payment_intent_is_shown(start_target: StartTarget) -> None:
    """A profile naming only ``payment_intent`` (credits) shows the intent's id."""
    result = check("credits", "--base-url", start_target("credits").url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[purchase] POST /v1/billing/purchases" in result.stdout
    assert "    payment intent: pi_" in result.stdout and "session id:" not in result.stdout


def test_no_create_skips_the_purchase_and_says_why(start_target: StartTarget) -> None:
    """--no-create never starts a purchase; it says so, and the values it would need say why they are missing."""
    result = check("invoices", "--base-url", start_target("invoices").url, "--no-create")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[purchase] skipped: POST /api/v1/billing/invoices/(unresolved: the setup step 'invoice' was skipped " \
           "(--no-create))/checkout starts a payment (--no-create)" in out
    assert "session id:" not in out and "/checkout →" not in out
    metadata = _data_object(out)["metadata"]
    assert metadata["invoice_id"] == "(unresolved: the setup step 'invoice' was skipped (--no-create))"
    assert metadata["workspace_id"].startswith("ws_smoke_")
    assert "credit state: invoices[id=(unresolved: the setup step 'invoice' was skipped (--no-create))].status" in out


def test_purchase_answer_without_the_named_field_exits_4(start_target: StartTarget, tmp_path: Path) -> None:
    """A [purchase] session_id that names a field the answer lacks: one sentence naming the step and the path, exit 4."""
    profile = _profile_copy(tmp_path, "demo", 'session_id = "stripeSessionId"', 'session_id = "session.id"')
    result = check(str(profile), "--base-url", start_target("topups").url)
    assert result.returncode == 4, result.stdout + result.stderr
    assert ("FAILED: [purchase] POST /api/billing/topups/checkout answered 200 without 'session.id', the path "
            "[purchase] session_id names: set session_id to where the answer holds the Checkout Session id "
            "(the answer has: checkoutUrl, paymentIntentId, stripeSessionId).") in result.stdout
    assert "the purchase did not work as the profile describes" in result.stdout
    assert "Traceback" not in result.stderr


def test_purchase_the_api_refuses_exits_4(start_target: StartTarget, tmp_path: Path) -> None:
    """A purchase answered 4xx (the profile names a route the API does not have) is reported at the step, exit 4."""
    profile = _profile_copy(tmp_path, "demo", 'request = "POST /api/billing/topups/checkout"',
                            'request = "POST /api/billing/topup/checkout"')
    result = check(str(profile), "--base-url", start_target("topups").url)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "    FAILED: [purchase] POST " in result.stdout and "/api/billing/topup/checkout answered 404" in result.stdout
    assert "the purchase did not work as the profile describes" in result.stdout
    assert "Traceback" not in result.stderr


def test_purchase_the_target_fails_exits_1(start_target: StartTarget) -> None:
    """A purchase the target cannot serve (credits without a Stripe key answers 503) is a target failure: exit 1."""
    result = check("credits", "--base-url", start_target("credits", with_stripe=False).url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "    FAILED: [purchase] POST " in result.stdout and "answered 503" in result.stdout
    assert "1 step(s) failed" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("profile, target", [("demo", "topups"), ("invoices", "invoices"), ("subscriptions", "subscriptions")])
def test_resolved_webhook_object_is_shown(profile: str, target: str, start_target: StartTarget) -> None:
    """[webhook.object] is shown as JSON with the buyer's / setup steps' values filled in."""
    result = check(profile, "--base-url", start_target(target).url)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = _data_object(result.stdout)
    metadata = shown["metadata"]
    assert isinstance(metadata, dict)
    values = [str(v) for v in metadata.values()]
    assert values and all(v and "unresolved" not in v for v in values), shown
    for value in values:  # each id came from an answer shown above
        assert result.stdout.count(value) >= 2, value
    assert shown.get("amount_total", shown.get("amount")) in (500, 2500)


@pytest.mark.parametrize("create", [True, False], ids=["create", "no-create"])
@pytest.mark.parametrize("name", builtin_profiles())
def test_no_placeholder_is_left_in_the_output(name: str, create: bool, start_target: StartTarget) -> None:
    """Against its reference target, every shipped profile's check prints values, never ``${…}``."""
    profile = load_profile(name)
    assert profile.embedded
    result = check(name, "--base-url", start_target(profile.embedded).url, *(() if create else ("--no-create",)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "${" not in result.stdout + result.stderr, result.stdout
    assert create is ("(unresolved:" not in result.stdout) or name == "ack-only", result.stdout
    validated = check(name)
    assert validated.returncode == 0 and "${" not in validated.stdout + validated.stderr, validated.stdout


def test_unset_variable_exits_4_naming_it(tmp_path: Path) -> None:
    """A used variable with no default and no env var: exit 4 before any request, naming the variable and its env var."""
    profile = _profile_copy(tmp_path, "demo", 'default = "smoke-${run:id}-Passw0rd", ', "")
    result = check(str(profile), "--base-url", "http://127.0.0.1:9", unset=("SMOKE_BUYER_PASSWORD",))
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.strip() == ("stripe-smoke: The profile variable 'password' has no value: set SMOKE_BUYER_PASSWORD "
                                     "(or give the variable a default in the profile).")
    assert "[health]" not in result.stdout and "Traceback" not in result.stderr
    validated = check(str(profile), unset=("SMOKE_BUYER_PASSWORD",))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "warning: The profile variable 'password' has no value: set SMOKE_BUYER_PASSWORD" in validated.stdout


def test_check_variables_only_names_used_variables(tmp_path: Path) -> None:
    """Unused variables may stay unset; a variable used through another's default counts; the environment wins."""
    path = tmp_path / "vars.toml"
    path.write_text(
        '[vars]\nunused = { env = "SMOKE_UNUSED" }\ntoken = { env = "SMOKE_TOKEN", secret = true }\n'
        'bearer = { env = "SMOKE_BEARER", default = "Bearer ${var:token}" }\n'
        '[auth]\nheaders = { Authorization = "${var:bearer}" }\n'
        '[state]\nrequest = "GET /state"\nvalue = "n"\n[effect]\ndelta = 1\n[webhook]\npath = "/hook"\n', encoding="utf-8")
    profile = load_profile(str(path))
    with pytest.raises(ConfigError, match=r"^The profile variable 'token' has no value: set SMOKE_TOKEN \(or give"):
        check_variables(profile, {})
    check_variables(profile, {"SMOKE_TOKEN": "t0ken-value"})
    check_variables(profile, {"SMOKE_BEARER": "Bearer x"})  # bearer's default (the only use of token) is then not used


def test_step_interpreter_names_the_unset_variable_instead_of_a_type_error(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset variable that reaches a header or body is a ConfigError naming it, before anything is sent."""
    monkeypatch.delenv("SMOKE_BUYER_PASSWORD", raising=False)
    profile = load_profile(str(_profile_copy(tmp_path, "demo", 'default = "smoke-${run:id}-Passw0rd", ', "")))
    client = TargetClient(profile, "http://127.0.0.1:9", webhook_secret=None, http_timeout=2)
    try:
        assert profile.buyer is not None
        with pytest.raises(ConfigError, match="'password' has no value: set SMOKE_BUYER_PASSWORD"):
            client.run_step(profile.buyer, authed=False)
        with pytest.raises(ConfigError, match="'password' has no value"):
            client.fill({"X-Password": "${var:password}"}, "[buyer].headers")
        assert client.exchanges == []
    finally:
        client.close()
