"""Benchmark: a broken credit path must not make a run slower than a passing one (aim: ≤ 1.2×).

Run: .venv/bin/python bench/verdicts_bench.py [--rounds 3]

Runs the full smoke suites, with default settings (--smoke-timeout 10, --settle-seconds 0.5), as
``stripe-smoke run`` would, against two top-ups reference targets side by side: a correct one, and one
whose webhook acknowledges everything and credits nothing. The broken run has one failed check (the
credit foundation, which waits out its timeout once) and its dependents blocked, so they wait for nothing.
Prints each run's wall time and verdict counts, and the ratio broken/passing (median over the rounds).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from smoke.reference import topups


def run(faults: set[str], reports: Path) -> tuple[float, Counter[str], int]:
    """One full run against a fresh target: wall time, verdict counts (from JUnit), exit code."""
    secret = "whsec_" + secrets.token_urlsafe(24)
    server = topups.start(secret, faults=faults)
    try:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "smoke.cli", "run", "--base-url", server.url,
                               "--reports-dir", str(reports)], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "STRIPE_WEBHOOK_SECRET": secret})
        elapsed = time.monotonic() - began
    finally:
        server.stop()
    counts: Counter[str] = Counter()
    for case in ET.parse(reports / "junit.xml").getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        verdict = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        counts[props.get("stripe_smoke_verdict") or {"failure": "failed"}.get(verdict, verdict)] += 1
    return elapsed, counts, done.returncode


def main() -> None:
    """Run both targets ``--rounds`` times, alternating, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"passing": [], "broken": []}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.rounds):
            for label, faults in (("passing", set()), ("broken", {"acknowledges_everything"})):
                elapsed, counts, code = run(faults, Path(folder) / f"{label}{index}")
                times[label].append(elapsed)
                print(f"{label:8} round {index + 1}: {elapsed:6.2f}s  exit {code}  {dict(sorted(counts.items()))}")
    passing, broken = statistics.median(times["passing"]), statistics.median(times["broken"])
    print(f"median wall time: passing {passing:.2f}s, broken credit path {broken:.2f}s, ratio {broken / passing:.2f} (aim ≤ 1.2)")


if __name__ == "__main__":
    main()
