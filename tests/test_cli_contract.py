"""The CLI contract (README, "Exit codes"): the same failure gets the same exit code and one sentence, in every
command, serial or under xdist."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smoke.config import OPTIONS
from smoke.servers import RunningServer

CLI = [sys.executable, "-m", "smoke.cli"]
SECRET = "whsec_" + "c0ntract" * 4


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET, **(env or {})})


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command says (warnings aside), asserting there is nothing more."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and "warning:" not in line]
    assert len(lines) == 1, result.stderr
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and "INTERNALERROR" not in everything and "internal error" not in everything
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("args, phrase", [
    (("run", "--smoke-timeout", "nan"), "--smoke-timeout must be a finite number"),
    (("run", "--smoke-timeout", "abc", "-n", "2"), "--smoke-timeout must be a number"),
    (("run", "--duplicates", "0"), "--duplicates must be at least 2"),
    (("run", "--rate-limit", "2.5", "-n", "2"), "--rate-limit must be a whole number"),
    (("run", "--target", "no-such-profile", "-n", "2"), "no-such-profile"),
    (("run", "--reports-dir", "/dev/null/x"), "Cannot create the reports folder /dev/null/x"),
    (("run", "--base-url", "ftp://x"), "must be an http(s) URL"),
    (("checkout", "verify", "--receipt", "r.json", "--deadline", "-5"), "--deadline: the value must be greater than 0"),
    (("checkout", "verify", "--receipt", "r.json", "--deadline", "inf"), "must be a finite number"),
    (("checkout", "verify", "--receipt", "r.json", "--deadline", "nan"), "must be a finite number"),
    (("demo", "--port", "70000"), "--port: the value must be at most 65535"),
    (("emulator", "--port", "-1"), "--port: the value must be at least 0"),
    (("send", "checkout.session.completed", "--to", "http://127.0.0.1:9/x", "--amount", "-1"), "--amount"),
    (("profile", "check", "demo", "--http-timeout", "0"), "--http-timeout: the value must be greater than 0"),
    (("sign", "--nope"), "unrecognized arguments: --nope"),
    (("checkout", "fly"), "invalid choice: 'fly'"),
])
def test_bad_input_is_exit_4_and_one_sentence(tmp_path: Path, args: tuple[str, ...], phrase: str) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr
    assert phrase in one_sentence(result)


@pytest.mark.parametrize("command, flag", [(("emulator",), "--port"), (("emulator", "--host", "127.0.0.1"), "--port"),
                                           (("demo",), "--port"), (("demo",), "--stripe-port")],
                         ids=["emulator", "stand-in", "demo", "demo-stripe-port"])
def test_a_port_in_use_is_exit_4_and_one_sentence(tmp_path: Path, command: tuple[str, ...], flag: str) -> None:
    """A port something listens on: one sentence naming it, the flag that chose it and what to do (not werkzeug's two
    lines and exit 1)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(*command, flag, str(port), cwd=tmp_path, timeout=60)
    assert result.returncode == 4, result.stdout + result.stderr
    sentence = one_sentence(result)
    assert f"Port {port} on 127.0.0.1 is already in use" in sentence and f"{flag} (0 picks a free one)" in sentence
    assert "Address already in use" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_unreachable_target_is_exit_3_in_run_and_send(tmp_path: Path, xdist: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = cli("run", "--base-url", url, *xdist, cwd=tmp_path, env={"SMOKE_HTTP_TIMEOUT": "2"})
    assert run.returncode == 3 and url in one_sentence(run)
    # The JUnit file a CI gate reads says why nothing ran (before, there was none).
    junit = (tmp_path / "reports" / "junit.xml").read_text(encoding="utf-8")
    assert 'name="preflight"' in junit and "<error" in junit and url in junit and 'value="3"' in junit, junit
    send = cli("send", "checkout.session.completed", "--to", url + "/webhook", "--timeout", "2", cwd=tmp_path)
    assert send.returncode == 3 and url in one_sentence(send)


def test_run_takes_every_documented_option(tmp_path: Path, start_topups: Callable[..., RunningServer]) -> None:
    """`run --help` lists every option, and `run --webhook-secret` (refused before) works, with a warning."""
    help_text = cli("run", "--help").stdout
    missing = [o.flag for o in OPTIONS if o.flag not in help_text]
    assert not missing and "--secret-file" in help_text and "--keep-allure-history" in help_text
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(f"`{o.flag}`" in readme for o in OPTIONS)

    server = start_topups()
    secret = server.app.config["WEBHOOK_SECRET"]
    result = cli("run", "--base-url", server.url, "--webhook-secret", secret, "--settle-seconds", "0.1",
                 "--reports-dir", str(tmp_path / "reports"), "-k", "webhook_route or exact_amount", cwd=tmp_path,
                 env={"STRIPE_WEBHOOK_SECRET": ""})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "2 passed" in result.stdout
    assert "--webhook-secret on the command line is visible" in result.stderr and secret not in result.stdout


def test_an_unset_profile_variable_is_exit_4_naming_it(tmp_path: Path) -> None:
    shipped = Path(__file__).parent.parent / "fixtures" / "profiles" / "subscriptions.toml"
    profile = tmp_path / "mine.toml"
    profile.write_text(shipped.read_text().replace(
        'password = { env = "SMOKE_BUYER_PASSWORD", default = "smoke-${run:id}-Passw0rd", secret = true }',
        'password = { env = "MY_BUYER_PASSWORD", secret = true }'))
    for xdist in ((), ("-n", "2")):
        result = cli("run", "--target", str(profile), *xdist, cwd=tmp_path, env={"MY_BUYER_PASSWORD": ""})
        assert result.returncode == 4, result.stdout[-2000:] + result.stderr
        line = one_sentence(result)
        assert "password" in line and "MY_BUYER_PASSWORD" in line


def test_a_receipt_for_another_target_is_exit_4_without_html(tmp_path: Path, stack) -> None:  # type: ignore[no-untyped-def]
    """A receipt edited to point at a server that doesn't serve the profile's API: a bad receipt, not a failure."""
    running = stack()
    other = stack(profile="subscriptions")  # a different API: its routes answer 404 pages
    env = {"STRIPE_WEBHOOK_SECRET": running.webhook_secret, "STRIPE_API_KEY": running.stripe_api_key or "",
           "STRIPE_API_BASE": running.stripe_api_base or "", "SMOKE_REPORTS_DIR": str(tmp_path / "reports")}
    created = cli("checkout", "create", "--base-url", running.base_url, cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    receipt = next((tmp_path / "reports" / "receipts").glob("*.json"))
    data = json.loads(receipt.read_text())
    data["base_url"] = other.base_url
    receipt.write_text(json.dumps(data))
    before = receipt.read_bytes()
    result = cli("checkout", "verify", "--receipt", str(receipt), "--deadline", "5", cwd=tmp_path, env=env)
    assert result.returncode == 4, result.stdout + result.stderr
    line = one_sentence(result)
    assert "404" in line and other.base_url in line and "<" not in line
    assert receipt.read_bytes() == before


def test_a_closed_pipe_is_quiet() -> None:
    body = json.dumps({"pad": "x" * 200_000})
    shell = f"{sys.executable} -m smoke.cli sign --curl http://127.0.0.1:9/ | head -c 4"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], input=body, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET})
    assert result.stdout == "curl" and result.stderr == "" and result.returncode == 0


def test_an_error_in_an_xdist_worker_is_one_sentence_with_its_code(pytester: pytest.Pytester) -> None:
    """A set-up error only a worker meets (here: the embedded target can't start) ends the run with its code."""
    pytester.makeconftest('''
import smoke.embedded
from smoke.errors import ConfigError

def refuse(*args, **kwargs):
    raise ConfigError("The embedded target could not start (port in use); free the port or pass --base-url.")

smoke.embedded.start_embedded = refuse
''')
    pytester.makepyfile(test_mine='''
def test_one(smoke):
    pass

def test_two(smoke):
    pass
''')
    result = pytester.runpytest_subprocess("-n", "2", "--target", "demo", "-p", "no:cacheprovider")
    assert result.ret == 4
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert "stripe-smoke: The embedded target could not start (port in use)" in out
