"""Every bad profile or receipt is one sentence naming the file and the key (exit 4), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smoke._data import fixtures_dir
from smoke.errors import ConfigError
from smoke.files import read_text
from smoke.profiles import load_profile
from smoke.receipts import Receipt, load, pending, save

CLI = [sys.executable, "-m", "smoke.cli"]
DEMO = (fixtures_dir() / "profiles" / "demo.toml").read_text(encoding="utf-8")
TOKEN = "opaque-session-credential-12345"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run stripe-smoke with none of this machine's SMOKE_/STRIPE_/BASE_URL settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOKE_", "STRIPE_", "BASE_URL"))}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def one_line_exit_4(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a run that ended with exit 4 and no traceback."""
    assert result.returncode == 4, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def demo_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped demo profile with one edit."""
    assert old in DEMO, old
    path = tmp_path / "bad.toml"
    path.write_text(DEMO.replace(old, new, 1), encoding="utf-8")
    return path


# (text in demo.toml, replacement, words the message must hold besides the file name)
PROFILE_CASES = [
    ('credit_event = "checkout.session.completed"', "credit_event = 42",
     ["webhook.credit_event must be a string (an event type such as checkout.session.completed), not 42."]),
    ('password = { env = "SMOKE_BUYER_PASSWORD", default = "smoke-${run:id}-Passw0rd", secret = true }',
     "password = { env = 42 }", ["vars.password.env must be the name of an environment variable", "not 42"]),
    ('embedded = "topups"', 'embedded = "topups"\nproduction = "yes"', ["target.production", "true or false"]),
    ("refunds = true", "refunds = 1", ["supports.refunds", "true or false", "not 1"]),
    ('request = "GET /api/billing/account"\nvalue', 'request = ["GET", "/api/billing/account"]\nvalue',
     ["state.request", "'METHOD /path'", "not a list"]),
    ('api_version = "2025-04-30.basil"', "api_version = 20250430", ["webhook.api_version", "Stripe API version"]),
    ('secrets = ["token", "apiKey"]\n\n# The email', 'secrets = "token"\n\n# The email', ["buyer.secrets", "a list"]),
    ('[webhook.object]', "[webhook.object]\npaid_at = 2024-01-01", ["webhook.object.paid_at", "dates and times as strings"]),
    ('[[setup]]\nname = "account"', '[[setup]]\nname = "account"\nparams = { page = { n = 1 } }',
     ["setup.0.params.page", "string, number or boolean"]),
    ('embedded = "topups"', 'embedded = "topupz"', ["target.embedded", "one of", "topups", "'topupz'"]),
    ('[buyer.on_status.409]', "[buyer.on_status.conflict]", ["buyer.on_status.conflict", "HTTP status"]),
    # negative or absurd numbers
    ('embedded = "topups"', 'embedded = "topups"\nrate_limit_per_minute = -5', ["target.rate_limit_per_minute", "not -5"]),
    ('embedded = "topups"', 'embedded = "topups"\nrate_limit_per_minute = 10000000000', ["target.rate_limit_per_minute"]),
    ('amount = { env = "SMOKE_TOPUP_CENTS", default = 500 }', 'amount = { env = "SMOKE_TOPUP_CENTS", default = -500 }',
     ["vars.amount.default", "positive amount", "not -500"]),
    ('amount = { env = "SMOKE_TOPUP_CENTS", default = 500 }', 'amount = { env = "SMOKE_TOPUP_CENTS", default = 10000000000000 }',
     ["vars.amount.default", "99,999,999"]),
    ('delta = "${var:amount}"', "delta = -3", ["effect.delta", "positive number", "not -3"]),
    ('[buyer.on_status.409]', "[buyer.on_status.409]\nexpect_status = [999]", ["expect_status.0", "from 100 to 599", "999"]),
    ('[webhook.object]', "[webhook.object]\namount = nan", ["webhook.object.amount", "finite number"]),
    # unknown keys in closed tables
    ('credit_event = "checkout.session.completed"', 'credit_evnt = "checkout.session.completed"',
     ["webhook.credit_evnt is not a known key; did you mean 'credit_event'"]),
    ('[supports]', "[suports]", ["suports is not a known key; did you mean 'supports'"]),
    ('password = { env = "SMOKE_BUYER_PASSWORD", default = "smoke-${run:id}-Passw0rd", secret = true }',
     'password = { env = "SMOKE_BUYER_PASSWORD", secrett = true }', ["vars.password.secrett", "did you mean 'secret'"]),
    ('[state]\nrequest', "[state]\ncolor = 'blue'\nrequest", ["state.color is not a known key", "the keys allowed here are"]),
]


@pytest.mark.parametrize(("old", "new", "words"), PROFILE_CASES, ids=[c[1].split("\n")[-1][:40] for c in PROFILE_CASES])
def test_a_bad_profile_names_the_file_the_key_and_what_is_expected(tmp_path: Path, old: str, new: str,
                                                                      words: list[str]) -> None:
    path = demo_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and message.endswith(".") and "\n" not in message, message
    assert all(word in message for word in words), message


def test_free_tables_take_any_key(tmp_path: Path) -> None:
    path = demo_with(tmp_path, "[webhook.object]", "[webhook.object]\nanything_at_all = { nested = [1, 2.5, true] }")
    text = path.read_text().replace('json = { amountCents = "${var:amount}" }',
                                    'json = { amountCents = "${var:amount}", extra = { deep = ["x"] } }\n'
                                    'headers = { X-Anything = "v" }')
    path.write_text(text)
    profile = load_profile(str(path))
    assert profile.credit_object["anything_at_all"] == {"nested": [1, 2.5, True]}
    assert profile.purchase is not None and profile.purchase.headers == {"X-Anything": "v"}


def test_a_secret_in_a_bad_value_is_not_printed(tmp_path: Path) -> None:
    path = demo_with(tmp_path, 'headers = { Authorization = "Bearer ${buyer:token}" }',
                     f'headers = {{ Authorization = ["Bearer {TOKEN}"] }}')
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert "auth.headers.Authorization" in str(info.value) and TOKEN not in str(info.value)
    path = demo_with(tmp_path, 'password = { env = "SMOKE_BUYER_PASSWORD", default = "smoke-${run:id}-Passw0rd", secret = true }',
                     f'pin = {{ env = "SMOKE_PIN", default = {{ value = "{TOKEN}", at = 2024-01-01 }}, secret = true }}')
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert "vars.pin.default" in str(info.value) and TOKEN not in str(info.value) and "2024" not in str(info.value)


def test_a_profile_with_a_utf8_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + DEMO.encode("utf-8"))
    assert load_profile(str(path)).credit_event == "checkout.session.completed"


@pytest.mark.parametrize(("name", "content", "words"), [
    ("typed.toml", DEMO.replace('credit_event = "checkout.session.completed"', "credit_event = 42").encode(),
     "webhook.credit_event must be a string"),
    ("utf16.toml", DEMO.encode("utf-16"), "must be UTF-8"),
    ("latin1.toml", DEMO.replace("stripe-smoke ${run:id}", "café ${run:id}").encode("latin-1"), "must be UTF-8"),
    ("deep.toml", ("x = " + "[" * 2000 + "]" * 2000 + "\n").encode(), "levels deep"),
    ("dotted.toml", (DEMO + "\n[webhook.object.a" + ".a" * 2000 + "]\nb = 1\n").encode(), "levels deep"),
])
def test_profile_check_of_a_bad_file_is_one_line_and_exit_4(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    (tmp_path / name).write_bytes(content)
    line = one_line_exit_4(cli("profile", "check", name, cwd=tmp_path))
    assert name in line and words in line, line


def test_a_profile_linked_to_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    started = time.monotonic()
    line = one_line_exit_4(cli("profile", "check", "zero.toml", cwd=tmp_path))
    assert time.monotonic() - started < 20 and "not a regular file" in line, line


# -- receipts -------------------------------------------------------------------------------------------------------


def real_receipt(folder: Path, **changes: Any) -> Path:
    """A receipt as 'checkout create' writes it (then edited by ``changes``; None deletes a field)."""
    receipt = Receipt(target="demo", base_url="http://127.0.0.1:9", run_id="r1", buyer="smoke@example.test",
                      session_id="cs_test_a1b2c3", checkout_url="http://127.0.0.1:9/c/pay/cs_test_a1b2c3#x",
                      effect={"delta": 500.0}, baseline=1000, context={"buyer": {"token": TOKEN}},
                      payment_intent="pi_123", stripe_api_base="http://127.0.0.1:12111")
    receipt.record("create", "created", "session cs_test_a1b2c3")
    path = save(receipt, folder / f"{receipt.receipt_id}.json")
    if changes:
        data = json.loads(path.read_text())
        for key, value in changes.items():
            if value is None:
                del data[key]
            else:
                data[key] = value
        path.write_text(json.dumps(data, indent=2))
    return path


RECEIPT_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"expires_at": "2099-01-01T00:00:00"}, ["expires_at", "time zone", "'2099-01-01T00:00:00'"]),
    ({"created_at": "2024-01-01 10:00"}, ["created_at", "time zone"]),
    ({"expires_at": "next tuesday"}, ["expires_at", "ISO date and time", "'next tuesday'"]),
    ({"expires_at": 1700000000}, ["expires_at", "not 1700000000"]),
    ({"base_url": None}, ["base_url is missing"]),
    ({"history": None}, ["history is missing"]),
    ({"effect": {"delta": "500"}}, ["effect.delta", "positive number", "not '500'"]),
    ({"effect": {"delta": -5}}, ["effect.delta", "not -5"]),
    ({"effect": {}}, ["effect must be", '{"delta": N}']),
    ({"status": "done"}, ["status must be one of", "'created'", "not 'done'"]),
    ({"session_id": 42}, ["session_id", "not 42"]),
    ({"context": [1]}, ["context must be an object"]),
    ({"context": {"var": 5}}, ["context.var must be an object of the profile's variables"]),
    ({"history": [{"phase": "create", "at": "2024-01-01T00:00:00", "status": "created", "detail": ""}]},
     ["history.0.at", "time zone"]),
    ({"sesion_id": "cs_test_x"}, ["sesion_id is not a known key; did you mean 'session_id'"]),
    ({"receipt_id": "../../../etc/cron.d/x"}, ["receipt_id must be an id"]),
    ({"base_url": "file:///etc/passwd"}, ["base_url must be an http(s) URL"]),
]


@pytest.mark.parametrize(("changes", "words"), RECEIPT_CASES, ids=[",".join(c[0]) for c in RECEIPT_CASES])
def test_a_bad_receipt_names_the_file_and_the_field(tmp_path: Path, changes: dict[str, Any], words: list[str]) -> None:
    path = real_receipt(tmp_path, **changes)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"Receipt {path}: ") and "checkout create" in message and "\n" not in message, message
    assert all(word in message for word in words), message
    assert path.read_bytes() == before


def test_a_receipt_never_prints_its_context(tmp_path: Path) -> None:
    path = real_receipt(tmp_path, context={"buyer": {"token": TOKEN, "at": float("nan")}})
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "context.buyer.at" in str(info.value) and TOKEN not in str(info.value)


def test_a_valid_receipt_loads_as_saved_and_an_inconclusive_one_too(tmp_path: Path) -> None:
    path = real_receipt(tmp_path)
    receipt = load(path)
    assert receipt.context == {"buyer": {"token": TOKEN}} and receipt.effect == {"delta": 500.0}
    receipt.record("verify", "inconclusive", "the target answered 429")
    save(receipt, path)
    assert load(path).status == "inconclusive"


def test_a_receipt_for_another_target_is_still_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is for target 'demo', not 'topups'"):
        load(real_receipt(tmp_path), target="topups")


BAD_RECEIPTS: dict[str, Callable[[Path], Path]] = {
    "naive time": lambda d: real_receipt(d, expires_at="2099-01-01T00:00:00"),
    "missing field": lambda d: real_receipt(d, effect=None),
    "wrong type": lambda d: real_receipt(d, baseline={"at": [1, {"x": float("inf")}]}),
    "truncated": lambda d: _write(d / "cut.json", real_receipt(d).read_bytes()[:100]),
    "utf-16": lambda d: _write(d / "u16.json", real_receipt(d).read_text().encode("utf-16")),
    "2000 deep": lambda d: _write(d / "deep.json", b'{"schema": "stripe-smoke/receipt", "version": 1, "context": '
                                  + b"[" * 2000 + b"]" * 2000 + b"}"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(BAD_RECEIPTS))
def test_checkout_verify_of_a_bad_receipt_is_exit_4_and_leaves_it_as_it_was(tmp_path: Path, case: str) -> None:
    path = BAD_RECEIPTS[case](tmp_path)
    before = path.read_bytes()
    line = one_line_exit_4(cli("checkout", "verify", "--receipt", str(path), "--deadline", "1", cwd=tmp_path))
    assert str(path) in line and TOKEN not in line, line
    assert path.read_bytes() == before


def test_a_symlinked_receipt_is_refused(tmp_path: Path) -> None:
    real = real_receipt(tmp_path)
    (tmp_path / "link.json").symlink_to(real)
    line = one_line_exit_4(cli("checkout", "verify", "--receipt", "link.json", "--deadline", "1", cwd=tmp_path))
    assert "link.json is a symbolic link" in line, line


def test_a_receipt_linked_to_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    started = time.monotonic()
    line = one_line_exit_4(cli("checkout", "verify", "--receipt", "zero.json", "--deadline", "1", cwd=tmp_path))
    assert time.monotonic() - started < 20 and "zero.json" in line, line
    assert pending(tmp_path) == [tmp_path / "zero.json"]  # listed for verify to report, not read


# -- smoke.files -----------------------------------------------------------------------------------------------------


def test_read_text_is_bounded_and_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(ConfigError, match="larger than 100 bytes"):
        read_text(big, "event file", limit=100)
    assert read_text(big, "event file", limit=101) == " " * 101
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text(fifo, "event file")  # no writer: it must not block
    with pytest.raises(ConfigError, match="is a directory"):
        read_text(tmp_path, "event file")
    with pytest.raises(ConfigError, match=r"Event file .* does not exist"):
        read_text(tmp_path / "nope.json", "event file")
    (tmp_path / "link.json").symlink_to(big)
    assert read_text(tmp_path / "link.json", "event file") == " " * 101
    with pytest.raises(ConfigError, match="symbolic link"):
        read_text(tmp_path / "link.json", "event file", follow_symlinks=False)
