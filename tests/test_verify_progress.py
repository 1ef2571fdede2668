"""Waits you can watch: verify and the person payer print a status line while they wait, an expired session ends
the wait at once, and ``verify --pending`` says how each receipt ended (terminal and JUnit)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from smoke import phases
from smoke.embedded import Embedded
from smoke.receipts import load
from smoke.stripe_api import client

from _phases import CLI, created, env_for, settings_for
from _wait import wait_until


def expire(running: Embedded, receipt: Path) -> None:
    """Expire the receipt's session in the emulator, as Stripe does after 24 h (or when the merchant expires it)."""
    session = load(receipt).session_id
    client(running.stripe_api_key or "", running.stripe_api_base).v1.checkout.sessions.expire(session or "")


class Child:
    """A stripe-smoke command in its own process; its stdout is read line by line, each line with its arrival time."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        self.began = time.monotonic()
        self.process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, cwd=cwd)
        self.lines: list[tuple[float, str]] = []  # (seconds since start, line)
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_errors, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic() - self.began, line.rstrip("\n")))

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.errors.extend(self.process.stderr)

    def first(self, words: str, timeout: float) -> tuple[float, str]:
        """The first line holding ``words`` (and when it came); AssertionError when none comes within ``timeout`` s."""
        found = wait_until(lambda: next(((at, line) for at, line in list(self.lines) if words in line), None),
                           timeout, message=f"a line with {words!r}; so far {[line for _, line in self.lines]}")
        assert found is not None
        return found

    def end(self, timeout: float) -> tuple[int, str]:
        """Wait for the process to end: its exit code and stderr."""
        self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode, "".join(self.errors)

    @property
    def text(self) -> str:
        """Everything printed so far."""
        return "\n".join(line for _, line in self.lines)

    def kill(self) -> None:
        """Stop the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def children() -> Iterator[Callable[..., Child]]:
    """Start commands in their own processes; any still running are killed after the test."""
    started: list[Child] = []

    def start(*args: str, env: dict[str, str], cwd: Path) -> Child:
        child = Child(*args, env=env, cwd=cwd)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def test_verify_shows_what_it_waits_for_while_the_session_is_unpaid(stack: Callable[..., Embedded],
                                                                    children: Callable[..., Child],
                                                                    tmp_path: Path) -> None:
    running = stack()
    receipt = created(running, tmp_path)
    verify = children("checkout", "verify", "--receipt", str(receipt), "--deadline", "7",
                      env=env_for(running, tmp_path, webhook_secret=True), cwd=tmp_path)

    at, line = verify.first("waiting for the credit:", timeout=5)
    assert at < 5, f"the first status line came after {at:.1f} s"
    assert "Stripe says session open/unpaid" in line, line
    assert "credit state 0 (baseline 0, expecting +500)" in line, line
    left = int(line.rsplit("·", 1)[1].split()[0])
    assert 0 < left <= 7 and line.endswith(" s left"), line

    code, errors = verify.end(timeout=30)
    assert code == 10, verify.text + errors
    progress = [at for at, line in verify.lines if line.startswith("waiting for the credit:")]
    gaps = [later - earlier for earlier, later in pairwise(progress)]
    assert len(progress) >= 2 and max(gaps) <= 3.0, (progress, verify.text)
    # the verdict line is unchanged, and last
    assert verify.lines[-1][1].startswith("Not yet paid: Stripe says the session is open/unpaid"), verify.text
    for secret in (running.stripe_api_key or "", running.webhook_secret):
        assert secret not in verify.text + errors


def test_verify_ends_at_once_when_the_session_expires(stack: Callable[..., Embedded], children: Callable[..., Child],
                                                      tmp_path: Path) -> None:
    running = stack()
    receipt = created(running, tmp_path)
    verify = children("checkout", "verify", "--receipt", str(receipt), "--deadline", "60",
                      env=env_for(running, tmp_path, webhook_secret=True), cwd=tmp_path)
    verify.first("Stripe says session open/unpaid", timeout=10)  # the wait has started

    expired_at = time.monotonic()
    expire(running, receipt)
    code, errors = verify.end(timeout=30)
    took = time.monotonic() - expired_at
    assert took < 10, f"verify took {took:.1f} s to notice (deadline 60 s)"
    assert code == 10, verify.text + errors
    verdict = verify.lines[-1][1]
    assert verdict.startswith("Not paid: the Checkout Session expired and nobody paid it"), verify.text
    assert "Stripe says expired/unpaid" in verdict and "checkout create" in verdict
    assert load(receipt).status == "not_paid"


def test_verify_of_an_already_expired_session_ends_without_waiting(stack: Callable[..., Embedded],
                                                                   tmp_path: Path) -> None:
    running = stack()
    receipt = created(running, tmp_path)
    expire(running, receipt)
    began = time.monotonic()
    with open(os.devnull, "w") as quiet:
        verdict = phases.verify(receipt, settings_for(running, tmp_path), deadline=60, out=quiet)
    assert time.monotonic() - began < 5
    assert (verdict.code, verdict.exit_code) == ("not_paid", 10), verdict.message
    assert "expired and nobody paid it" in verdict.message


def test_person_payer_shows_a_status_line_every_few_seconds(stack: Callable[..., Embedded],
                                                            children: Callable[..., Child], tmp_path: Path) -> None:
    running = stack()
    receipt = created(running, tmp_path)
    payer = children("checkout", "pay", "--receipt", str(receipt), "--via", "person", "--deadline", "60",
                     env=env_for(running, tmp_path, webhook_secret=True), cwd=tmp_path)

    _at, line = payer.first("waiting for payment:", timeout=8)
    assert "Stripe says session open/unpaid" in line and "credit state 0" in line and line.endswith(" s left"), line
    # nothing changes, yet the person still sees that the wait goes on
    wait_until(lambda: len([1 for _, text in payer.lines if text.startswith("waiting for payment:")]) >= 2, 5,
               message="a second status line")
    progress = [at for at, text in payer.lines if text.startswith("waiting for payment:")]
    assert progress[1] - progress[0] <= 3.0, payer.text

    expire(running, receipt)  # nobody will pay now: the payer stops waiting
    code, errors = payer.end(timeout=15)
    assert code == 1, payer.text + errors
    assert "pay (person): failed: the Checkout Session expired before anyone paid it" in payer.text
    assert load(receipt).status == "pay_failed"


def test_pending_counts_what_was_verified_and_what_was_not(stack: Callable[..., Embedded], tmp_path: Path) -> None:
    running = stack()
    env = env_for(running, tmp_path, webhook_secret=True)
    paid, unpaid = created(running, tmp_path), created(running, tmp_path)
    pay = subprocess.run([*CLI, "checkout", "pay", "--receipt", str(paid), "--via", "api"], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert pay.returncode == 0, pay.stdout + pay.stderr

    result = subprocess.run([*CLI, "checkout", "verify", "--pending", "--deadline", "3"], capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 10, result.stdout + result.stderr  # the unpaid one's verdict
    lines = result.stdout.splitlines()
    for receipt in (paid, unpaid):
        assert any(line.endswith(f"{receipt.stem}: verifying (deadline 3 s)") for line in lines), result.stdout
    assert any(f"{paid.stem}: verified after" in line for line in lines), result.stdout
    assert any(f"{unpaid.stem}: not verified: not_paid (exit 10) after" in line for line in lines), result.stdout
    report = tmp_path / "junit-verify.xml"
    assert lines[-1] == f"2 receipt(s): 1 verified, 1 not verified (1 not_paid); report: {report}", result.stdout

    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "2", "failures": "1", "errors": "0", "skipped": "0"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases[paid.stem].find("failure") is None
    failure = cases[unpaid.stem].find("failure")
    assert failure is not None and failure.get("type") == "not_paid"
    assert "Not yet paid" in (failure.get("message") or "")
    assert (running.stripe_api_key or "sk_test_") not in report.read_text()


def test_pending_counts_a_bad_receipt_as_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "receipts"
    folder.mkdir()
    (folder / "rcpt_broken.json").write_text('{"schema": "stripe-smoke/receipt", "vers')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOKE_", "STRIPE_", "BASE_URL"))}
    result = subprocess.run([*CLI, "checkout", "verify", "--pending", "--deadline", "1"], capture_output=True,
                            text=True, timeout=60, env={**env, "SMOKE_REPORTS_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "rcpt_broken: not verified: error (exit 4): Receipt " in result.stdout
    assert "1 receipt(s): 0 verified, 1 not verified (1 error)" in result.stdout
    suite = ET.parse(tmp_path / "junit-verify.xml").getroot()
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "1", "failures": "0", "errors": "1", "skipped": "0"}
    assert "not readable JSON" in (suite.find("testcase/error").get("message") or "")  # type: ignore[union-attr]


class _Terminal:
    """A stream that says it is a terminal, keeping what was written."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redacted_line_rewritten_in_place() -> None:
    terminal = _Terminal()
    token = "sk_test_" + "q" * 24
    watch = phases._Watch(terminal, "waiting for the credit", 30, describe=lambda v: f"credit state {v}").start()
    try:
        watch.reading(lambda: token)()
        wait_until(lambda: any(text.startswith("\r") for text in terminal.written), 4, message="a status line")
    finally:
        watch.stop()
    text = "".join(terminal.written)
    assert text.startswith("\rwaiting for the credit: no STRIPE_API_KEY to ask Stripe · credit state [redacted] · ")
    assert "\x1b[K" in text and text.endswith("\n") and text.count("\n") == 1
    assert "q" * 24 not in text
