"""Fuzzing what a user hands the harness: every shipped profile mutated, a real receipt mutated, random CLI arguments.

Whatever the input, the command ends (no hang), with an exit code from the documented set (README, "Exit codes"),
without a traceback or an "internal error", and a receipt it was given keeps its bytes. Runs in-process (the CLI's
``main``) so hundreds of cases fit in a minute; examples are derandomised so CI is repeatable — set
``HYPOTHESIS_PROFILE=explore`` for fresh random cases and many more of them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smoke.cli import main

settings.register_profile("ci", max_examples=120, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PROFILES = sorted((Path(__file__).parent.parent / "fixtures" / "profiles").glob("*.toml"))
DOCUMENTED = {0, 1, 3, 4, 6, 10, 11, 12, 13, 14}
SECRET = "whsec_" + "fuzz" * 8


class Hang(BaseException):
    """A command ran past its time limit (BaseException: the CLI's last-resort handler must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(*_: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*argv: str, stdin: bytes = b"", limit: float = 15) -> tuple[int, str, str]:
    """``stripe-smoke ARGV`` in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(limit):
        real_stdin, sys.stdin = sys.stdin, fake_stdin
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: --help (0) and usage errors (4)
            code = int(exc.code or 0)
        finally:
            sys.stdin = real_stdin
    return code, out.getvalue(), err.getvalue()


def assert_contract(code: int, out: str, err: str, argv: tuple[str, ...] | list[str]) -> None:
    assert code in DOCUMENTED, f"exit {code} for {argv}: {err[-500:]}"
    for text in (out, err):
        assert "Traceback" not in text and "internal error" not in text, f"{argv}: {text[-1500:]}"
    if code == 4:
        lines = [line for line in err.splitlines() if line.strip() and "warning:" not in line]
        assert len(lines) == 1, f"{argv}: not one sentence: {err[-1500:]}"


@pytest.fixture(autouse=True)
def _quiet_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's, reports land in tmp
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    for name in ("BASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE", "SMOKE_TARGET", "SMOKE_RECEIPT_FILE"):
        monkeypatch.delenv(name, raising=False)


# -- profiles -----------------------------------------------------------------------------------------------------

def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


WEIRD_VALUES = st.one_of(
    st.integers(min_value=-2**63, max_value=2**63 - 1), st.booleans(), st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    st.sampled_from(["", " ", "${var:nope}", "${buyer:", "GET", "POST /", "DELETE /x", "-1", "1e309", "nan",
                     "${run:id}", "\u0000", "../../etc/passwd", "x" * 5000]),
)


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    elif value is _RENAME and isinstance(node, dict):
        node[str(path[-1]) + "_"] = node.pop(path[-1])
    else:
        node[path[-1]] = value


_DELETE, _RENAME = object(), object()


@st.composite
def mutated_profiles(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(PROFILES))
    text = source.read_text(encoding="utf-8")
    kind = draw(st.sampled_from(["value", "value", "value", "text", "encoding", "nesting"]))
    if kind == "value":
        data = tomllib.loads(text)
        for _ in range(draw(st.integers(1, 3))):
            paths = _paths(data)
            if not paths:
                break
            path = draw(st.sampled_from(paths))
            _set(data, path, draw(st.one_of(WEIRD_VALUES, st.just(_DELETE), st.just(_RENAME))))
        try:
            return tomli_w.dumps(data).encode()
        except (TypeError, ValueError):  # tomli_w can't write e.g. a NUL in a key: write the original instead
            return text.encode()
    if kind == "text":
        lines = text.splitlines(keepends=True)
        index = draw(st.integers(0, max(0, len(lines) - 1)))
        edit = draw(st.sampled_from(["drop", "dup", "insert", "truncate"]))
        if edit == "drop":
            del lines[index]
        elif edit == "dup":
            lines.insert(index, lines[index])
        elif edit == "insert":
            lines.insert(index, draw(st.text(max_size=40)) + "\n")
        else:
            return "".join(lines)[: draw(st.integers(0, len(text)))].encode("utf-8", "surrogatepass")
        return "".join(lines).encode("utf-8", "surrogatepass")
    if kind == "encoding":
        changed = text.replace("description = \"", "description = \"Zürich ", 1)
        # errors="replace": a profile with characters latin-1 lacks (—, →) still makes a latin-1 file
        return changed.encode(draw(st.sampled_from(["utf-16", "latin-1", "utf-8-sig", "utf-32"])), "replace")
    depth = draw(st.sampled_from([50, 500, 2000]))
    return (text + "\n[webhook.object.deep]\nx = " + "[" * depth + "]" * depth + "\n").encode()


@given(body=mutated_profiles())
def test_a_mutated_profile_is_checked_or_refused_in_one_sentence(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "mutated.toml"
    path.write_bytes(body)
    argv = ("profile", "check", str(path))
    assert_contract(*run_cli(*argv), argv)


# -- receipts -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_receipt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A receipt the harness wrote for a Checkout Session on the demo target and its local Stripe."""
    from smoke import phases
    from smoke.config import resolve_settings
    from smoke.embedded import start_embedded
    from smoke.profiles import load_profile

    running = start_embedded(load_profile("demo"))
    folder = tmp_path_factory.mktemp("receipt")
    env = {"STRIPE_WEBHOOK_SECRET": running.webhook_secret, "STRIPE_API_KEY": running.stripe_api_key or "",
           "STRIPE_API_BASE": running.stripe_api_base or "", "SMOKE_REPORTS_DIR": str(folder)}
    try:
        settings = resolve_settings({"base_url": running.base_url}, {**os.environ, **env})
        _, path = phases.create(settings, running.base_url)
        yield path, env
    finally:
        running.stop()


RECEIPT_VALUES = st.one_of(WEIRD_VALUES, st.sampled_from([
    "2026-01-01T00:00:00", "2026-13-45T99:00:00+00:00", "yesterday", "1999-01-01T00:00:00+00:00", None,
    "http://127.0.0.1:9", "javascript:alert(1)", "cs_test_nope", -5, 10**30]))


@st.composite
def mutated_receipts(draw: st.DrawFn, original: dict[str, Any]) -> bytes:
    data = json.loads(json.dumps(original))
    kind = draw(st.sampled_from(["value", "value", "value", "bytes", "type"]))
    if kind == "type":
        return json.dumps(draw(st.sampled_from([[], None, "x", 42, [data]]))).encode()
    if kind == "bytes":
        raw = json.dumps(data).encode()
        cut = draw(st.integers(0, len(raw)))
        return draw(st.sampled_from([raw[:cut], raw.decode().encode("utf-16"), b"\xff\xfe" + raw, b"[" * 3000]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        _set(data, path, draw(st.one_of(RECEIPT_VALUES, st.just(_DELETE))))
    return json.dumps(data, allow_nan=True).encode()


def test_a_mutated_receipt_is_verified_or_refused_and_keeps_its_bytes(
        real_receipt: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, env = real_receipt
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    original_bytes = path.read_bytes()
    original = json.loads(original_bytes)

    @settings(max_examples=60)
    @given(body=mutated_receipts(original))
    def check(body: bytes) -> None:
        mutated = tmp_path / "receipts" / "mutated.json"
        mutated.parent.mkdir(exist_ok=True)
        mutated.write_bytes(body)
        argv = ("checkout", "verify", "--receipt", str(mutated), "--deadline", "0.3")
        code, out, err = run_cli(*argv)
        assert_contract(code, out, err, argv)
        if code == 4:
            assert mutated.read_bytes() == body, "a receipt that failed to load was changed"

    check()
    assert path.read_bytes() == original_bytes


# -- arguments ----------------------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


NUMBERS = st.one_of(st.sampled_from(["-5", "0", "nan", "inf", "-inf", "1e400", "abc", "", "3", "0.2", "99999999999"]),
                    st.integers().map(str), st.floats(allow_nan=True).map(str))
BAD_PORTS = st.sampled_from(["-1", "70000", "65536", "abc", "nan", "", "1.5", "-0x10"])
FILES = st.sampled_from(["missing.json", ".", "/dev/zero", "/dev/null", "/etc/hostname", "demo", "../", "x\u00e9.toml"])


@st.composite
def argument_lists(draw: st.DrawFn) -> list[str]:
    closed = f"http://127.0.0.1:{_closed_port()}"
    urls = st.one_of(st.just(closed), st.sampled_from(["ftp://x", "not a url", "http://", "", "http://[::1", closed + "/w"]))
    command = draw(st.sampled_from(["sign", "send", "profile", "checkout", "demo", "emulator", "junk"]))
    argv: list[str] = []
    if command == "sign":
        argv = ["sign"]
        for option in draw(st.lists(st.sampled_from(["--timestamp", "--curl", "--secret"]), max_size=3, unique=True)):
            argv += [option, draw(NUMBERS) if option == "--timestamp" else draw(urls) if option == "--curl"
                     else draw(st.sampled_from(["", "whsec_x", "sk_test_1", SECRET]))]
    elif command == "send":
        argv = ["send", draw(st.sampled_from(["checkout.session.completed", "nope", "", "charge.refunded"])),
                "--to", draw(urls), "--timeout", "2"]
        for option in draw(st.lists(st.sampled_from(["--amount", "--set", "--from-file", "--api-version"]),
                                    max_size=3, unique=True)):
            value = {"--amount": NUMBERS, "--from-file": FILES,
                     "--set": st.sampled_from(["a=1", "=", "data.object=[]", "data.object.x.y=1", "id", "data=5"]),
                     "--api-version": st.sampled_from(["2025-04-30.basil", "1900-01-01", "x", ""])}[option]
            argv += [option, draw(value)]
    elif command == "profile":
        argv = ["profile", "check", draw(st.one_of(st.sampled_from([p.stem for p in PROFILES]), FILES))]
        for option in draw(st.lists(st.sampled_from(["--base-url", "--http-timeout", "--no-create"]), max_size=3,
                                    unique=True)):
            argv += [option] if option == "--no-create" else [option, draw(urls if option == "--base-url" else NUMBERS)]
    elif command == "checkout":
        action = draw(st.sampled_from(["verify", "pay", "create"]))
        argv = ["checkout", action, "--base-url", draw(urls)] if action == "create" else ["checkout", action]
        if action != "create":
            argv += ["--receipt", draw(FILES)]
        for option in draw(st.lists(st.sampled_from(["--deadline", "--card", "--via", "--target"]), max_size=3,
                                    unique=True)):
            value = {"--deadline": NUMBERS, "--card": st.sampled_from(["4242", "4242424242424242", "", "x"]),
                     "--via": st.sampled_from(["api", "person", "plane"]),
                     "--target": st.one_of(FILES, st.sampled_from(["demo", "topups"]))}[option]
            argv += [option, draw(value)]
    elif command in ("demo", "emulator"):
        argv = [command, "--port", draw(BAD_PORTS)]  # never a valid port: that would serve until Ctrl-C
    else:
        argv = draw(st.lists(st.text(max_size=12), max_size=4))
    return argv


@given(argv=argument_lists())
def test_random_arguments_get_a_documented_exit_code_and_no_traceback(argv: list[str]) -> None:
    assert_contract(*run_cli(*argv, stdin=b'{"id": "evt_1"}'), argv)
