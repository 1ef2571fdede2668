"""Profiles load, resolve placeholders, and explain every mistake with the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.errors import ConfigError
from smoke.placeholders import resolve
from smoke.profiles import builtin_profiles, load_profile
from smoke.target import TargetClient


def test_builtin_profiles_load() -> None:
    for name in builtin_profiles():
        assert load_profile(name).name


def test_placeholders_chain_values_and_keep_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_X", "from-env")
    sources = {"buyer": {"token": "t0k", "org": {"id": 42}}, "run": {"id": "r1"}}
    assert resolve({"n": "${buyer:org.id}", "s": "acct_${buyer:org.id}", "e": "${env:SMOKE_X}",
                    "d": "${env:SMOKE_UNSET:-x-${run:id}}", "l": ["${buyer:token}"]}, sources) == \
        {"n": 42, "s": "acct_42", "e": "from-env", "d": "x-r1", "l": ["t0k"]}


def test_env_vars_override_profile_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_TOPUP_CENTS", "1200")
    monkeypatch.setenv("SMOKE_BUYER_EMAIL", "me@example.test")
    client = TargetClient(load_profile("demo"), "http://127.0.0.1:9", webhook_secret="whsec_abcdefghijkl")
    assert client.results["var"]["amount"] == 1200 and client.results["var"]["email"] == "me@example.test"
    assert client.effect().delta == 1200


def test_bad_amount_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_TOPUP_CENTS", "5.00")
    with pytest.raises(ConfigError, match="SMOKE_TOPUP_CENTS must be a positive whole number"):
        TargetClient(load_profile("demo"), "http://127.0.0.1:9", webhook_secret="whsec_abcdefghijkl")


BASE = """
[state]
request = "GET /balance"
value = "balance"
[effect]
delta = 5
[webhook]
path = "/hook"
"""


@pytest.mark.parametrize("text, key, fix", [
    ("[state\nrequest=", "not valid TOML", "fix the syntax"),
    (BASE + "[suports]\nrefunds = true\n", "suports", "did you mean 'supports'"),
    (BASE.replace('request = "GET /balance"', 'request = "FETCH /balance"'), "state.request", "METHOD /path"),
    (BASE.replace('path = "/hook"', 'path = "hook"'), "webhook.path", "/api/webhooks/stripe"),
    (BASE.replace('value = "balance"', ""), "state.value", 'value = "account.balance_cents"'),
    (BASE.replace("delta = 5", "delta = 5\nto = 'paid'"), "effect", "choose a numeric delta"),
    (BASE + "[supports]\nrefunds = 'yes'\n", "supports.refunds", "refunds = true"),
    ("[webhook]\npath='/x'\n", "[state]", "add a [state] table"),
])
def test_malformed_profile_names_file_key_and_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert str(path) in message and key in message and fix in message, message


def test_unknown_target_lists_the_shipped_profiles() -> None:
    with pytest.raises(ConfigError, match="demo"):
        load_profile("no-such-target")
