"""Steps beyond HTTP to the base URL: a local ``command`` (a management command that issues the invoice) and a request
to another ``base_url`` (an admin API) with its own auth — the target's ``[auth]`` never goes there."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request

from smoke.cli import main
from smoke.errors import ConfigError, SmokeError
from smoke.profiles import find_profile, load_profile
from smoke.reference import invoices
from smoke.servers import RunningServer, serve
from smoke.target import TargetClient

ADMIN_TOKEN = "adm_tok_Zq81vNw3kLp0"  # the admin API's own credential (a secret var in the profiles below)
STDERR_SECRET = "pw-Xy7-never-shown"
SETUP = re.compile(r"\[\[setup\]\]\n(?:[^\n]+\n)+")  # the invoices profile's [[setup]] table, up to the blank line

# The management command a real back office would have: issues an open invoice through the admin route (the service
# key) and prints it as JSON. Standard library only, so it starts fast for every check (the step is per_check).
ISSUE_INVOICE = """\
import argparse, json, os, sys, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--workspace", required=True)
parser.add_argument("--amount", type=int, required=True)
parser.add_argument("--service-key", required=True)
args = parser.parse_args()
print("issuing an invoice for", args.workspace, file=sys.stderr)  # logs go to stderr; stdout is the JSON result
req = urllib.request.Request(
    os.environ["INVOICES_URL"] + "/api/v1/billing/invoices?workspace_id=" + args.workspace, method="POST",
    data=json.dumps({"amount_due": args.amount, "currency": "usd"}).encode(),
    headers={"X-API-Key": args.service_key, "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as answer:
    invoice = json.load(answer)
print(json.dumps({"id": invoice["id"], "status": invoice["status"], "issued_by": os.environ.get("ISSUER", "")}))
"""


@pytest.fixture
def invoices_target(webhook_secret: str) -> Iterator[RunningServer]:
    """The invoices reference target: its invoices are issued by the business (the service key), not by a buyer."""
    server = invoices.start(webhook_secret)
    yield server
    server.stop()


@pytest.fixture
def admin_api(invoices_target: RunningServer) -> Iterator[tuple[RunningServer, list[dict[str, str]]]]:
    """A second server, an admin API on another port with its own bearer token, that issues invoices in the target."""
    seen: list[dict[str, str]] = []
    app = Flask("admin-api")

    @app.post("/admin/invoices")
    def issue() -> Any:
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {ADMIN_TOKEN}":
            return jsonify({"error": "unauthorized"}), 401
        body = request.get_json(force=True)
        answer = httpx.post(f"{invoices_target.url}/api/v1/billing/invoices", params={"workspace_id": body["workspace"]},
                            headers={"X-API-Key": invoices.SERVICE_KEY}, json={"amount_due": body["amount"]}, timeout=10)
        return jsonify(answer.json()), answer.status_code

    server = serve(app, name="admin-api")
    yield server, seen
    server.stop()


def _invoices_profile(tmp_path: Path, setup: str, *, extra_vars: str = "", name: str = "invoices-beyond") -> Path:
    """The shipped invoices profile with its [[setup]] step replaced (and vars added), written next to the scripts."""
    text = find_profile("invoices").read_text(encoding="utf-8")
    assert SETUP.search(text), "the invoices profile's [[setup]] table moved"
    text = SETUP.sub(lambda _: setup.strip() + "\n", text, count=1).replace('name = "invoices"', f'name = "{name}"', 1)
    if extra_vars:
        text = text.replace("[vars]\n", "[vars]\n" + extra_vars.strip() + "\n", 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _command_profile(tmp_path: Path) -> Path:
    """Invoices issued by a local command (the script above, run with this Python), never by a request of the profile."""
    (tmp_path / "issue_invoice.py").write_text(ISSUE_INVOICE, encoding="utf-8")
    return _invoices_profile(tmp_path, f"""
[[setup]]
name = "invoice"
per_check = true
given = {{ id = "${{env:SMOKE_INVOICE_ID:-}}" }}
command = [{json.dumps(sys.executable)}, "issue_invoice.py", "--workspace", "${{var:workspace}}", "--amount", "${{var:amount}}",
           "--service-key", "${{var:api_key}}"]
cwd = "."
env = {{ INVOICES_URL = "${{env:SMOKE_TEST_INVOICES_URL}}", ISSUER = "staging-ops" }}
timeout = 30
secrets = ["issued_by"]
""")


def _admin_profile(tmp_path: Path) -> Path:
    """Invoices issued through an admin API at another base URL, with its own token."""
    return _invoices_profile(tmp_path, """
[[setup]]
name = "invoice"
per_check = true
base_url = "${env:SMOKE_TEST_ADMIN_URL}"
request = "POST /admin/invoices"
headers = { Authorization = "Bearer ${var:admin_token}" }
json = { workspace = "${var:workspace}", amount = "${var:amount}" }
expect_status = [201]
""", extra_vars=f'admin_token = {{ env = "SMOKE_TEST_ADMIN_TOKEN", default = "{ADMIN_TOKEN}", secret = true }}',
        name="invoices-admin")


def _tiny_profile(tmp_path: Path, setup: str, *, extra: str = "") -> Path:
    """A minimal profile (no state) around one [[setup]] step, for the interpreter's errors."""
    path = tmp_path / "tiny.toml"
    path.write_text('[vars]\ntoken = { default = "tok_Very_Secret_991", secret = true }\n'
                    f'[auth]\nheaders = {{ X-API-Key = "target-key-123" }}\n{extra}'
                    f'[[setup]]\nname = "invoice"\n{setup}\n[supports]\nstate = false\n[webhook]\npath = "/hook"\n',
                    encoding="utf-8")
    return path


def _python(code: str) -> str:
    """A TOML array holding ``python -c CODE`` with this interpreter."""
    return f"command = [{json.dumps(sys.executable)}, \"-c\", {json.dumps(code)}]"


def _client(path: Path, base_url: str = "http://127.0.0.1:9") -> TargetClient:
    return TargetClient(load_profile(str(path)), base_url, webhook_secret=None, http_timeout=5)


def _run_setup(path: Path) -> Any:
    client = _client(path)
    try:
        return client.run_step(client.profile.setup[0])
    finally:
        client.close()


# -- a command step ---------------------------------------------------------------------------------------------------


def test_setup_command_issues_the_invoice_and_the_crediting_checks_pass(
        tmp_path: Path, invoices_target: RunningServer, run_suites: Callable[..., pytest.RunResult],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile whose [[setup]] runs a command (no request creates the invoice) passes the suites: each check gets a
    fresh open invoice from the command, and the crediting checks see it paid."""
    monkeypatch.setenv("SMOKE_TEST_INVOICES_URL", invoices_target.url)
    monkeypatch.setenv("SMOKE_WORKSPACE_ID", "ws_cmd")
    monkeypatch.delenv("SMOKE_INVOICE_ID", raising=False)
    result = run_suites(base_url=invoices_target.url, target=str(_command_profile(tmp_path)))
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 22, outcomes
    for check in ("test_signed_event_credits_exact_amount", "test_redelivery_credits_once",
                  "test_concurrent_duplicates_credit_once", "test_payment_event_sequence_credits_once"):
        result.stdout.re_match_lines([rf"PASSED .*{check}.*"])
    listed = httpx.get(f"{invoices_target.url}/api/v1/billing/invoices", params={"workspace_id": "ws_cmd"},
                       headers={"X-API-Key": invoices.SERVICE_KEY}, timeout=5).json()["invoices"]
    statuses = [invoice["status"] for invoice in listed]
    assert len(statuses) >= 10 and statuses.count("paid") >= 4, statuses  # one invoice per check, the credited ones paid


def test_command_result_feeds_later_steps_and_its_secrets_are_masked(tmp_path: Path, invoices_target: RunningServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON the command printed is ``${invoice:…}``; ``secrets`` masks its fields; the run is redacted evidence."""
    monkeypatch.setenv("SMOKE_TEST_INVOICES_URL", invoices_target.url)
    monkeypatch.delenv("SMOKE_INVOICE_ID", raising=False)
    monkeypatch.delenv("SMOKE_WORKSPACE_ID", raising=False)
    client = _client(_command_profile(tmp_path), invoices_target.url)
    try:
        client.ensure_buyer()
        invoice = client.results["invoice"]
        assert invoice["id"].startswith("inv_") and invoice["status"] == "open"
        assert client.read_state() == "open"  # [state] picks it out of the list by ${invoice:id}
        run = client.exchanges[0]
        assert run.method == "RUN" and run.outcome == "exit 0" and run.status == 0
        assert "issue_invoice.py --workspace ws_smoke_" in run.summary() and "→ exit 0" in run.summary()
        assert invoices.SERVICE_KEY not in run.summary() + json.dumps(run.as_dict())  # a secret var in the argv
        assert "staging-ops" not in run.response_body and invoice["id"] in run.response_body  # secrets = ["issued_by"]
    finally:
        client.close()


def test_command_that_exits_1_is_one_sentence_with_redacted_stderr(tmp_path: Path) -> None:
    """A non-zero exit names the step, the exit code and the end of stderr — with the secrets in it masked."""
    code = ("import sys; print('connecting...', file=sys.stderr); "
            f"print('login failed for token ' + sys.argv[1] + ' password={STDERR_SECRET}', file=sys.stderr); sys.exit(1)")
    path = _tiny_profile(tmp_path, _python(code)[:-1] + ', "${var:token}"]')
    with pytest.raises(SmokeError) as info:
        _run_setup(path)
    message = str(info.value)
    assert not isinstance(info.value, ConfigError)  # the command failed: exit 1, like a 5xx
    assert message.startswith("[invoice] the command ") and "exited with code 1" in message, message
    assert "(stderr: 'connecting... | login failed for token [redacted] password=[redacted]')" in message, message
    assert "tok_Very_Secret_991" not in message and STDERR_SECRET not in message
    assert "\n" not in message and message.endswith("then fix it (or the step's cwd and env) in the profile.")


def test_command_timeout_is_one_sentence_and_kills_its_children(tmp_path: Path) -> None:
    """A command past its timeout is killed with everything it started (a child holding stdout would otherwise make
    the harness wait for it), and reported in one sentence."""
    code = ("import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "  # inherits stdout and stderr
            "print('waiting for the database', file=sys.stderr, flush=True); time.sleep(60)")
    path = _tiny_profile(tmp_path, _python(code) + "\ntimeout = 1")
    started = time.monotonic()
    with pytest.raises(SmokeError) as info:
        _run_setup(path)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert message.startswith("[invoice] the command ") and "did not finish within 1 s" in message, message
    assert "waiting for the database" in message and "raise the step's timeout (e.g. timeout = 120)" in message
    assert "\n" not in message


def test_command_that_prints_no_json_is_one_sentence(tmp_path: Path) -> None:
    """stdout must be the JSON result; anything else is a ConfigError quoting (redacted) what it printed."""
    path = _tiny_profile(tmp_path, _python("print('Invoice inv_42 issued, api_key=sk_test_abcdefghijklmnop')"))
    with pytest.raises(ConfigError) as info:
        _run_setup(path)
    message = str(info.value)
    assert message.startswith("[invoice] the command ") and "exited with code 0 but printed 'Invoice inv_42 issued" in message
    assert "which is not JSON; print only the result as JSON on stdout" in message and "sk_test_abc" not in message
    assert "\n" not in message


def test_command_that_cannot_start_is_one_sentence(tmp_path: Path) -> None:
    path = _tiny_profile(tmp_path, 'command = ["stripe-smoke-no-such-program", "--token", "${var:token}"]')
    with pytest.raises(ConfigError) as info:
        _run_setup(path)
    message = str(info.value)
    assert message.startswith("[invoice] the command 'stripe-smoke-no-such-program --token [redacted]' could not start")
    assert "is installed and on PATH" in message and "tok_Very_Secret_991" not in message and "\n" not in message


def test_command_gets_its_env_and_cwd_and_prints_nothing(tmp_path: Path) -> None:
    """``env`` is added to the environment, ``cwd`` is relative to the profile; empty stdout is an empty result."""
    (tmp_path / "work").mkdir()
    code = "import os, json; print(json.dumps({'cwd': os.getcwd(), 'who': os.environ['WHO'], 'path': bool(os.environ.get('PATH'))}))"
    path = _tiny_profile(tmp_path, _python(code) + '\ncwd = "work"\nenv = { WHO = "t-${var:token}" }')
    assert _run_setup(path) == {"cwd": str((tmp_path / "work").resolve()), "who": "t-tok_Very_Secret_991", "path": True}
    assert _run_setup(_tiny_profile(tmp_path, _python("pass"))) == {}


# -- another base URL -------------------------------------------------------------------------------------------------


def test_step_with_another_base_url_reaches_it_with_its_own_auth_only(
        tmp_path: Path, invoices_target: RunningServer, admin_api: tuple[RunningServer, list[dict[str, str]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin API gets the step's own Authorization and never the target's X-API-Key; the exchange is evidence."""
    admin, seen = admin_api
    monkeypatch.setenv("SMOKE_TEST_ADMIN_URL", admin.url)
    client = _client(_admin_profile(tmp_path), invoices_target.url)
    try:
        client.ensure_buyer()
        assert client.results["invoice"]["id"].startswith("inv_") and client.read_state() == "open"
    finally:
        client.close()
    assert len(seen) == 1 and seen[0]["Authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert not any(name.lower() == "x-api-key" for name in seen[0])  # the target's [auth] stays with the target
    issued, state = client.exchanges[0], client.exchanges[1]
    assert issued.url == f"{admin.url}/admin/invoices" and issued.status == 201
    assert state.url.startswith(f"{invoices_target.url}/api/v1/billing/invoices")
    assert ADMIN_TOKEN not in json.dumps([e.as_dict() for e in client.exchanges])


def test_admin_base_url_profile_passes_the_crediting_check(
        tmp_path: Path, invoices_target: RunningServer, admin_api: tuple[RunningServer, list[dict[str, str]]],
        run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    admin, seen = admin_api
    monkeypatch.setenv("SMOKE_TEST_ADMIN_URL", admin.url)
    result = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=invoices_target.url,
                        target=str(_admin_profile(tmp_path)))
    assert result.ret == 0, result.stdout.str()
    result.stdout.re_match_lines([r"PASSED .*test_signed_event_credits_exact_amount.*"])
    assert seen and not any(name.lower() == "x-api-key" for headers in seen for name in headers)


@pytest.mark.parametrize("url", ["ftp://admin.example.com", "not a url"])
def test_another_base_url_is_validated(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_TEST_ADMIN_URL", url)
    path = _tiny_profile(tmp_path, 'base_url = "${env:SMOKE_TEST_ADMIN_URL}"\nrequest = "POST /admin/x"')
    with pytest.raises(ConfigError, match=r"^\[invoice\]\.base_url must be an http\(s\) URL such as"):
        _run_setup(path)


# -- profile check ----------------------------------------------------------------------------------------------------


def test_profile_check_shows_what_the_command_ran(tmp_path: Path, invoices_target: RunningServer,
                                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The argv (secrets redacted), the exit code and the JSON it printed; --no-create runs no command."""
    monkeypatch.setenv("SMOKE_TEST_INVOICES_URL", invoices_target.url)
    monkeypatch.setenv("SMOKE_WORKSPACE_ID", "ws_check_cmd")
    monkeypatch.delenv("SMOKE_INVOICE_ID", raising=False)
    profile = _command_profile(tmp_path)
    assert main(["profile", "check", str(profile), "--base-url", invoices_target.url, "--no-create"]) == 0
    out = capsys.readouterr().out
    assert "[setup invoice (per check)] skipped: the command '" in out and "creates something (--no-create)" in out
    listed = {"workspace_id": "ws_check_cmd"}, {"X-API-Key": invoices.SERVICE_KEY}
    assert httpx.get(f"{invoices_target.url}/api/v1/billing/invoices", params=listed[0], headers=listed[1],
                     timeout=5).json()["invoices"] == []

    assert main(["profile", "check", str(profile), "--base-url", invoices_target.url]) == 0
    out = capsys.readouterr().out
    argv = f"{sys.executable} issue_invoice.py --workspace ws_check_cmd --amount 2500 --service-key [redacted]"
    assert f"[setup invoice (per check)] run: {argv}" in out, out
    assert f"    RUN {argv} → exit 0 (" in out, out
    printed = json.loads(next(line for line in out.splitlines() if line.startswith("      printed:  "))[16:])
    assert printed["id"].startswith("inv_") and printed["status"] == "open" and printed["issued_by"] == "[redacted]"
    assert "values later steps use as invoice:PATH" in out and "value: 'open' — expected after one payment" in out
    assert invoices.SERVICE_KEY not in out and "staging-ops" not in out and "${" not in out


def test_profile_check_shows_the_real_url_and_no_request_line_for_a_step_not_sent(
        tmp_path: Path, invoices_target: RunningServer, admin_api: tuple[RunningServer, list[dict[str, str]]],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = admin_api
    profile = _admin_profile(tmp_path)
    monkeypatch.delenv("SMOKE_TEST_ADMIN_URL", raising=False)
    assert main(["profile", "check", str(profile), "--base-url", invoices_target.url]) == 0
    out = capsys.readouterr().out
    assert "[setup invoice (per check)] not run: " in out, out
    assert not re.search(r"^\[setup invoice \(per check\)\] POST", out, re.M) and "/admin/invoices" not in out, out

    monkeypatch.setenv("SMOKE_TEST_ADMIN_URL", admin.url)
    assert main(["profile", "check", str(profile), "--base-url", invoices_target.url]) == 0
    out = capsys.readouterr().out
    assert f"[setup invoice (per check)] POST {admin.url}/admin/invoices\n" in out, out
    assert f"    POST {admin.url}/admin/invoices → 201 (" in out and ADMIN_TOKEN not in out
    assert "value: 'open' — expected after one payment: open → paid" in out


def test_profile_check_reports_a_failing_command_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = f"import sys; print('denied: password={STDERR_SECRET}', file=sys.stderr); sys.exit(3)"
    path = _tiny_profile(tmp_path, _python(code))
    app = Flask("up")
    app.add_url_rule("/", "up", lambda: "ok")
    with serve(app, name="up") as target:
        assert main(["profile", "check", str(path), "--base-url", target.url]) == 1
    out = capsys.readouterr().out
    assert "    RUN " in out and "→ exit 3 (" in out
    assert "    FAILED: [invoice] the command " in out and "exited with code 3 (stderr: 'denied: password=[redacted]')" in out
    assert STDERR_SECRET not in out


# -- validation -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setup, words", [
    ('command = "python manage.py issue_invoice"', ["setup.0.command must be a list of strings, the program and its "
                                                     "arguments, never a shell string", "not 'python manage.py issue_invoice'"]),
    ("command = []", ["setup.0.command must be a list of strings"]),
    ('request = "POST /x"\ncommand = ["true"]', ["setup.0 has both request and command; keep one"]),
    ("per_check = true", ["setup.0 has no request, command or given; add request = "]),
    ('command = ["true"]\njson = { a = 1 }', ["setup.0.json applies to a request, not to a command"]),
    ('command = ["true"]\nbase_url = "https://admin.example.com"', ["setup.0.base_url applies to a request"]),
    ('request = "POST /x"\ncwd = "backend"', ["setup.0.cwd applies to a command only"]),
    ('request = "POST /x"\nenv = { A = "b" }', ["setup.0.env applies to a command only"]),
    ('command = ["true"]\ntimeout = 0', ["setup.0.timeout must be a number of seconds above 0 and at most 3,600", "not 0"]),
    ('command = ["true"]\ntimeout = "60"', ["setup.0.timeout must be a number of seconds", "not '60'"]),
    ('command = ["true"]\nenv = { PORT = 8000 }', ["setup.0.env.PORT must be a string", "not 8000"]),
    ('request = "POST /x"\nbase_url = "ftp://admin.example.com"', ["setup.0.base_url must be an http(s) URL or a placeholder"]),
    ('given = { id = "x" }\nbase_url = "https://admin.example.com"', ["setup.0.base_url needs a request to send"]),
])
def test_step_keys_are_validated_in_one_sentence(tmp_path: Path, setup: str, words: list[str]) -> None:
    path = _tiny_profile(tmp_path, setup)
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and message.endswith(".") and "\n" not in message, message
    assert all(word in message for word in words), message


def test_given_only_step_needs_its_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step may be only ``given`` values (no request): set, they are its result; empty, one sentence says what to set."""
    path = _tiny_profile(tmp_path, 'given = { id = "${env:SMOKE_TEST_GIVEN_ID:-}" }')
    monkeypatch.setenv("SMOKE_TEST_GIVEN_ID", "inv_given")
    assert _run_setup(path) == {"id": "inv_given"}
    monkeypatch.delenv("SMOKE_TEST_GIVEN_ID")
    with pytest.raises(ConfigError, match=r"\[invoice\] has only given values and id is empty: set it"):
        _run_setup(path)


def test_class_profile_setup_needs_no_request(tmp_path: Path, invoices_target: RunningServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``class``, a [[setup]] step may be only a name: the class answers it (``answer_step``)."""
    (tmp_path / "beyond_target.py").write_text(
        "from smoke.target import TargetClient\n\n\n"
        "class IssuesInvoices(TargetClient):\n"
        "    def answer_step(self, step):\n"
        "        answer = self.request('POST', '/api/v1/billing/invoices', step=step.name, headers=self.auth_headers(),\n"
        "                              params={'workspace_id': self.results['var']['workspace']}, json={'amount_due': 900})\n"
        "        return answer.json()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _invoices_profile(tmp_path, '[[setup]]\nname = "invoice"\nper_check = true\n', name="coded-invoices")
    path.write_text('class = "beyond_target:IssuesInvoices"\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    from smoke.target import open_target

    client = open_target(load_profile(str(path)), invoices_target.url, webhook_secret=None, http_timeout=5)
    try:
        client.ensure_buyer()
        assert client.results["invoice"]["amount_due"] == 900 and client.read_state() == "open"
    finally:
        client.close()
    without_class = _invoices_profile(tmp_path, '[[setup]]\nname = "invoice"\n', name="plain")
    with pytest.raises(ConfigError, match=r"setup\.0 has no request, command or given"):
        load_profile(str(without_class))
