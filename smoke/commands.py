"""Command steps: run a local program (a management command, a seed script) where a profile has no HTTP route.

A step's ``command`` is an argv list, run without a shell, with stdin closed and a timeout; the JSON it prints on
stdout is the step's result (``${name:path}`` for later steps). Whatever a person sees of it — the argv, the end of
stderr, what it printed — goes through the client's redactor first.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smoke.errors import ConfigError, SmokeError
from smoke.redact import Redactor

DEFAULT_TIMEOUT = 60.0
RUN = "RUN"  # the "method" of a command's exchange in the evidence
_STDERR_LINES = 3  # lines of stderr an error quotes
_SHOWN = 200  # characters of an argv or an excerpt an error quotes
_AFTER_KILL = 5.0  # seconds to collect the output of a command killed at its timeout


@dataclass(frozen=True)
class Ran:
    """What one command did: its exit code (None when it was killed at its timeout), output and duration."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float
    timeout: float

    @property
    def status(self) -> int:
        """The exit code for the evidence (-1 when it timed out)."""
        return -1 if self.returncode is None else self.returncode

    @property
    def outcome(self) -> str:
        """``exit 0``, ``exit 1``, ``killed by signal 9`` or ``timed out after 60 s``."""
        if self.returncode is None:
            return f"timed out after {self.timeout:g} s"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exit {self.returncode}"

    def evidence(self) -> str:
        """What the command printed, and the end of its stderr when it failed (redacted when the exchange is read)."""
        if self.returncode == 0 or not self.stderr.strip():
            return self.stdout
        tail = "\n".join(self.stderr.strip().splitlines()[-20:])
        return f"{self.stdout}\n[stderr]\n{tail}" if self.stdout else f"[stderr]\n{tail}"


def shown(argv: list[str] | tuple[str, ...], redactor: Redactor | None = None) -> str:
    """The argv as a shell would quote it (for people only: it is never run through a shell), redacted when given one."""
    text = shlex.join(argv)
    return redactor.redact(text) if redactor is not None else text


def run(step: str, argv: list[str], *, cwd: Path | None, env: dict[str, str], timeout: float, redactor: Redactor) -> Ran:
    """Run ``argv`` (no shell, stdin closed) with ``env`` over this process's environment; kill it at ``timeout`` seconds.

    A program that cannot start is a ConfigError naming the step; any exit code is returned, not raised (see ``result``).
    """
    started = time.monotonic()
    try:
        # A session of its own, so a timeout kills the command's children too; subprocess.run would kill only the
        # command and then wait, unbounded, for a child still holding its stdout.
        process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                   errors="replace", start_new_session=True)
    except (OSError, ValueError) as exc:
        what = getattr(exc, "strerror", None) or type(exc).__name__
        name = getattr(exc, "filename", None)
        reason = redactor.redact(f"{what}: {name}" if name else what)
        where = f" and that its cwd {redactor.redact(str(cwd))!r} exists" if cwd is not None else ""
        raise ConfigError(f"[{step}] the command {_short(shown(argv, redactor))!r} could not start ({reason}); check that "
                          f"{redactor.redact(argv[0]) if argv else 'the program'!r} is installed and on PATH{where}.") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill(process)
        try:
            stdout, stderr = process.communicate(timeout=_AFTER_KILL)
        except subprocess.TimeoutExpired:  # a child left its session and keeps the pipes open: give up its output
            process.kill()
            stdout, stderr = "", ""
        code = None
    return Ran(tuple(argv), code, stdout or "", stderr or "", time.monotonic() - started, timeout)


def result(step: str, ran: Ran, redactor: Redactor) -> Any:
    """The JSON a command printed (``{}`` when it printed nothing); a failure, a timeout or other output is one sentence."""
    command = _short(shown(ran.argv, redactor))
    if ran.returncode is None:
        raise SmokeError(f"[{step}] the command {command!r} did not finish within {ran.timeout:g} s{_stderr(ran, redactor)}; "
                         "make it faster, or raise the step's timeout (e.g. timeout = 120).")
    if ran.returncode != 0:
        how = f"exited with code {ran.returncode}" if ran.returncode > 0 else f"was killed by signal {-ran.returncode}"
        raise SmokeError(f"[{step}] the command {command!r} {how}{_stderr(ran, redactor)}; run it by hand to see why, "
                         "then fix it (or the step's cwd and env) in the profile.")
    text = ran.stdout.strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        excerpt = _short(redactor.redact(" ".join(text.split())))
        raise ConfigError(f"[{step}] the command {command!r} exited with code 0 but printed {excerpt!r}, which is not JSON; "
                          'print only the result as JSON on stdout (e.g. {"id": "inv_1"}) and anything else on stderr.') from None


def _stderr(ran: Ran, redactor: Redactor) -> str:
    """`` (stderr: "…last lines…")``, redacted before it is cut so that no secret survives in part."""
    lines = [" ".join(line.split()) for line in redactor.redact(ran.stderr).splitlines() if line.strip()]
    if not lines:
        return " (nothing on stderr)"
    tail = " | ".join(lines[-_STDERR_LINES:])
    return f" (stderr: {tail if len(tail) <= 2 * _SHOWN else '…' + tail[-2 * _SHOWN:]!r})"


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def _kill(process: subprocess.Popen[str]) -> None:
    """Kill the command and everything it started in its session."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows: no process groups here
            process.kill()
    except (ProcessLookupError, PermissionError):
        process.kill()
