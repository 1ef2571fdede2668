"""Benchmark: the full suite against a target that limits each buyer route and key, vs the same target unthrottled.

Run: .venv/bin/python bench/throttled_bench.py [--rounds 2] [--per-minute 60] [--headers ietf|x|none] [--workers 4]
                                                [--smoke-timeout S]

Starts two top-ups reference targets side by side: one enforcing ``--per-minute`` requests a minute per route and
key (the buyer's bearer token) on its buyer routes (``/api/billing/*``, ``/api/org/*``; the webhook is not limited),
telling its budget in ``--headers`` style (``ietf``: RateLimit-*, ``x``: X-RateLimit-*, ``none``: only a 429's
Retry-After); and one without limits. Runs ``stripe-smoke run`` (every check, default settings) against each,
alternating, ``--rounds`` times: ``--target topups`` (whose profile declares 60 a minute on those routes) against the
limited one, ``--target demo`` (the same contract, no limits declared) against the other. Each target counts the
requests it answers by route. Prints each run's wall time, verdict counts, state reads (GET /api/billing/account) per
check that ran, 429s, and whether both runs reached identical verdicts (check, verdict and cause); then the median
ratio throttled / unthrottled. ``--workers N`` adds the same pair with ``-n N`` (each worker's buyer has its own key).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flask import Response, request

from smoke.reference import topups
from smoke.servers import RunningServer

STATE = ("GET", "/api/billing/account")
BUYER_ROUTES = ("/api/billing/*", "/api/org/*")


@dataclass
class Run:
    """One run of the suite: wall time, exit code, verdicts by check, and what the target answered by route."""

    label: str
    seconds: float
    code: int
    verdicts: dict[str, tuple[str, str]]
    answered: Counter[tuple[str, str, int]]

    @property
    def ran(self) -> int:
        """Checks that ran to a verdict of their own (passed or failed)."""
        return sum(verdict in ("passed", "failed") for verdict, _ in self.verdicts.values())

    @property
    def state_reads(self) -> int:
        """Requests to the credit state's route (answered, 429s included)."""
        return sum(n for (method, path, _), n in self.answered.items() if (method, path) == STATE)

    @property
    def throttled(self) -> int:
        """Requests the target answered 429."""
        return sum(n for (_, _, status), n in self.answered.items() if status == 429)

    def line(self) -> str:
        """One line of figures."""
        counts = Counter(verdict for verdict, _ in self.verdicts.values())
        return (f"{self.label:24} {self.seconds:7.2f}s  exit {self.code}  {dict(sorted(counts.items()))}  "
                f"state reads {self.state_reads} = {self.state_reads / max(1, self.ran):.2f}/check  "
                f"requests {sum(self.answered.values())}  429s {self.throttled}")


def _count(server: RunningServer) -> Counter[tuple[str, str, int]]:
    """Count every answer of ``server`` by (method, path, status); hooked to run after its own hooks."""
    answered: Counter[tuple[str, str, int]] = Counter()
    lock = threading.Lock()

    def count(response: Response) -> Response:
        with lock:
            answered[(request.method, request.path, response.status_code)] += 1
        return response

    server.app.after_request_funcs.setdefault(None, []).insert(0, count)
    return answered


def _verdicts(junit: Path) -> dict[str, tuple[str, str]]:
    """Check → (verdict, cause) from a run's JUnit file."""
    verdicts: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        tag = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        verdict = props.get("stripe_smoke_verdict") or {"failure": "failed"}.get(tag, tag)
        verdicts[f"{case.get('classname')}.{case.get('name')}"] = (str(verdict), props.get("stripe_smoke_cause") or "")
    return verdicts


def run(label: str, target: str, reports: Path, workers: int, options: list[str], **limits: object) -> Run:
    """Start a fresh top-ups target (with ``limits``), run every check against it once, and stop it."""
    secret = "whsec_" + secrets.token_urlsafe(24)
    server = topups.start(secret, **limits)  # type: ignore[arg-type]
    answered = _count(server)
    extra = [*options, *(["-n", str(workers)] if workers > 1 else [])]
    try:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "smoke.cli", "run", "--target", target, "--base-url", server.url,
                               "--reports-dir", str(reports), *extra], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "STRIPE_WEBHOOK_SECRET": secret})
        seconds = time.monotonic() - began
    finally:
        server.stop()
    if not (reports / "junit.xml").exists():
        sys.exit(f"{label}: no JUnit written (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Run(label, seconds, done.returncode, _verdicts(reports / "junit.xml"), answered)


def main() -> None:
    """Run the pair ``--rounds`` times, alternating, print the figures and the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-minute", type=int, default=60)
    parser.add_argument("--headers", choices=["ietf", "x", "none"], default="ietf")
    parser.add_argument("--workers", type=int, default=1, help="also run the pair with pytest-xdist -n WORKERS")
    parser.add_argument("--smoke-timeout", type=float, default=None, help="pass --smoke-timeout to both runs")
    args = parser.parse_args()
    options = ["--smoke-timeout", f"{args.smoke_timeout:g}"] if args.smoke_timeout else []
    limits = {"rate_limit_per_minute": args.per_minute, "rate_limit_webhook": False, "rate_limit_routes": BUYER_ROUTES,
              "rate_limit_headers": args.headers}
    print(f"throttled: {args.per_minute} requests/minute per route and key on {', '.join(BUYER_ROUTES)} "
          f"(webhook unlimited), headers {args.headers}; profile topups. unthrottled: no limits; profile demo.")
    modes = [1] + ([args.workers] if args.workers > 1 else [])
    ratios: dict[int, list[float]] = {n: [] for n in modes}
    seconds: dict[str, list[float]] = {}
    same = True
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.rounds):
            for workers in modes:
                suffix = f" -n {workers}" if workers > 1 else ""
                pair = [("throttled" + suffix, "topups", limits), ("unthrottled" + suffix, "demo", {})]
                if index % 2:
                    pair.reverse()  # alternate which goes first
                runs = {label: run(label, target, Path(folder) / f"{label.replace(' ', '')}{index}", workers, options, **kw)
                        for label, target, kw in pair}
                throttled, free = runs["throttled" + suffix], runs["unthrottled" + suffix]
                identical = throttled.verdicts == free.verdicts
                same = same and identical
                for result in (throttled, free):
                    seconds.setdefault(result.label, []).append(result.seconds)
                    print(f"round {index + 1}  {result.line()}")
                if not identical:
                    differ = sorted(k for k in throttled.verdicts.keys() | free.verdicts.keys()
                                    if throttled.verdicts.get(k) != free.verdicts.get(k))
                    print(f"          verdicts differ: {', '.join(differ)}")
                ratios[workers].append(throttled.seconds / free.seconds)
    for workers in modes:
        suffix = f" -n {workers}" if workers > 1 else ""
        print(f"median wall time{suffix}: throttled {statistics.median(seconds['throttled' + suffix]):.2f}s, unthrottled "
              f"{statistics.median(seconds['unthrottled' + suffix]):.2f}s, ratio {statistics.median(ratios[workers]):.2f} "
              "(aim ≤ 1.5)")
    if len(modes) > 1:
        serial = statistics.median(seconds["throttled"])
        print(f"throttled -n {modes[1]} / throttled serial: {statistics.median(seconds[f'throttled -n {modes[1]}']) / serial:.2f} "
              "(aim ≤ 0.5)")
    print(f"verdicts identical throttled and unthrottled in every round: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
