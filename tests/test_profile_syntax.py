"""The profile syntax added for the contract styles: list filters, given/per_check steps, [supports] state = false."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.errors import ConfigError
from smoke.placeholders import Missing, json_path, resolve
from smoke.profiles import load_profile
from smoke.reference import embedded, embedded_names

DATA = {"invoices": [{"id": "inv_1", "status": "open", "n": 3, "ok": False},
                     {"id": "inv_2", "status": "paid", "n": 4, "ok": True}],
        "account": {"balance_cents": 7}}


@pytest.mark.parametrize("path, value", [
    ("account.balance_cents", 7),
    ("invoices.0.status", "open"),
    ("invoices.-1.id", "inv_2"),
    ("invoices[id=inv_2].status", "paid"),
    ("invoices[n=3].id", "inv_1"),
    ("invoices[ok=true].id", "inv_2"),
    ("invoices[1].status", "paid"),
    ("invoices[status=paid][n=4].id", "inv_2"),
    ("invoices[ok=true][n=4].status", "paid"),
])
def test_json_path_filters(path: str, value: object) -> None:
    assert json_path(DATA, path) == value


@pytest.mark.parametrize("path, words", [
    ("invoices[id=inv_9].status", "no item with id = 'inv_9'"),
    ("account[id=x]", "no list to filter"),
    ("invoices[status=paid][n=3]", "no item with status = 'paid' and n = '3'"),
])
def test_json_path_filter_misses_say_what_was_missing(path: str, words: str) -> None:
    with pytest.raises(Missing, match=words.replace("[", r"\[")):
        json_path(DATA, path)


def test_placeholders_inside_filters_and_empty_defaults() -> None:
    sources = {"invoice": {"id": "inv_2"}, "data": DATA}
    assert resolve("${data:invoices[id=inv_2].status}", sources) == "paid"
    assert resolve({"id": "${env:SMOKE_SURELY_UNSET_VAR:-}"}, sources) == {"id": ""}


BASE = """
[webhook]
path = "/hook"
"""


def test_state_can_be_declared_absent(tmp_path: Path) -> None:
    path = tmp_path / "ack.toml"
    path.write_text(BASE + "[supports]\nstate = false\n")
    profile = load_profile(str(path))
    assert not profile.can("state") and not profile.can("simulated_credit")


@pytest.mark.parametrize("extra, key, fix", [
    ('[[setup]]\nrequest = "POST /x"\ngiven = "inv_1"\n', "setup.0.given", "given = {"),
    ('[[setup]]\nrequest = "POST /x"\nper_check = "yes"\n', "setup.0.per_check", "per_check = true"),
])
def test_new_step_keys_are_validated(tmp_path: Path, extra: str, key: str, fix: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE + '[state]\nrequest = "GET /s"\nvalue = "v"\n[effect]\nto = "paid"\n' + extra)
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert key in str(info.value) and fix in str(info.value)


def test_missing_state_mentions_the_no_effect_declaration(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE)
    with pytest.raises(ConfigError, match=r"\[supports\] state = false"):
        load_profile(str(path))


def test_every_shipped_profile_names_a_registered_embedded_target() -> None:
    for name in ("topups", "invoices", "subscriptions", "ack-only"):
        profile = load_profile(name)
        assert profile.embedded in embedded_names() and callable(embedded(profile.embedded))


@pytest.mark.parametrize("profile", ["invoices", "subscriptions", "ack-only"])
def test_embedded_target_starts_without_a_base_url(profile: str, run_suites: Callable[..., pytest.RunResult]) -> None:
    """``--target NAME`` with no --base-url starts the profile's reference target."""
    result = run_suites("-k", "test_api_answers or test_webhook_route_exists", target=profile)
    assert result.ret == 0 and result.parseoutcomes().get("passed", 0) == 2, result.stdout.str()
