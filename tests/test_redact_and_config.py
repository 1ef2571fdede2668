"""Secrets are masked everywhere; settings come from options, then environment, then .env; live keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.config import check_base_url, check_stripe_key, load_env_file, resolve_settings
from smoke.errors import ConfigError
from smoke.redact import Redactor


def test_known_and_secret_shaped_values_are_masked() -> None:
    r = Redactor()
    r.add("hunter2-password")
    text = r.redact("pw hunter2-password key sk_test_abcdefgh1234 whsec_abcdefghijk Authorization: Bearer abc.def.ghi "
                    'card 4242 4242 4242 4242 {"token": "zzzzzz"} ts 1795405687')
    for secret in ("hunter2-password", "sk_test_abcdefgh1234", "whsec_abcdefghijk", "abc.def.ghi", "4242 4242 4242 4242", "zzzzzz"):
        assert secret not in text
    assert "•••• 4242" in text and "1795405687" in text


def test_options_beat_environment_beat_defaults() -> None:
    env = {"BASE_URL": "http://127.0.0.1:1/", "SMOKE_TIMEOUT": "3", "SMOKE_ALLOW_PRODUCTION": "yes"}
    settings = resolve_settings({"timeout": "7"}, env)
    assert settings.base_url == "http://127.0.0.1:1" and settings.timeout == 7.0 and settings.allow_production
    assert resolve_settings({}, {}).target == "demo"


@pytest.mark.parametrize("env, words", [
    ({"SMOKE_TIMEOUT": "soon"}, "SMOKE_TIMEOUT must be a number"),
    ({"SMOKE_ALLOW_PRODUCTION": "maybe"}, "must be true or false"),
    ({"BASE_URL": "staging.example.com"}, "must be an http(s) URL"),
    ({"STRIPE_API_KEY": "sk_live_" + "x" * 24}, "Refusing a live Stripe key"),
    ({"STRIPE_SECRET_KEY": "rk_live_" + "x" * 24}, "Refusing a live Stripe key"),
    ({"STRIPE_API_KEY": "pk_test_abc"}, "must be a secret or restricted test key"),
])
def test_bad_settings_get_one_clear_sentence(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings({}, env)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_test_keys_are_accepted() -> None:
    assert check_stripe_key("rk_test_abc") == "rk_test_abc"
    assert check_base_url("https://staging.example.com/") == "https://staging.example.com"


def test_env_file_fills_unset_variables_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("BASE_URL=http://127.0.0.1:5/\nSMOKE_TOPUP_CENTS=900\n")
    monkeypatch.setenv("SMOKE_TOPUP_CENTS", "100")
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_env_file() == env
    import os

    assert os.environ["BASE_URL"] == "http://127.0.0.1:5/" and os.environ["SMOKE_TOPUP_CENTS"] == "100"
    monkeypatch.delenv("BASE_URL")
    with pytest.raises(ConfigError, match="does not exist"):
        load_env_file(tmp_path / "missing.env")
