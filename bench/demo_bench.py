"""Benchmark: the embedded demo, as README's first command runs it (every check, real Checkout in the browser included).

Run: .venv/bin/python bench/demo_bench.py [--rounds 3] [-- extra stripe-smoke run arguments]

Runs ``stripe-smoke run`` with default settings in a fresh folder ``--rounds`` times and prints, for each round, the
wall time (process start to exit), the time pytest reports, the verdict counts and the slowest checks; then the
medians. Start-up (Python, pytest, the plugin's imports) is the difference between the two times.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time

CLI = [sys.executable, "-m", "smoke.cli", "run"]
SUMMARY = re.compile(r"=+ (?P<counts>.*?) in (?P<seconds>[0-9.]+)s")
SLOW = re.compile(r"^(?P<seconds>[0-9.]+)s (?P<when>call|setup|teardown)\s+(?P<check>\S+)$", re.M)


def one_round(extra: list[str]) -> tuple[float, float, str, list[str]]:
    """One run: wall seconds, pytest's seconds, its verdict counts, and its five slowest phases."""
    with tempfile.TemporaryDirectory() as folder:
        begin = time.monotonic()
        done = subprocess.run([*CLI, "-q", "--durations=5", *extra], capture_output=True, text=True, cwd=folder,
                              timeout=600)
        wall = time.monotonic() - begin
    found = SUMMARY.search(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    if done.returncode != 0 or found is None:
        sys.exit(f"stripe-smoke run failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    slow = [f"{m['seconds']}s {m['when']} {m['check'].rsplit('::', 1)[-1]}" for m in SLOW.finditer(done.stdout)]
    return wall, float(found["seconds"]), found["counts"], slow


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args, extra = parser.parse_known_args()
    walls, tests = [], []
    for index in range(args.rounds):
        wall, seconds, counts, slow = one_round([a for a in extra if a != "--"])
        walls.append(wall)
        tests.append(seconds)
        print(f"round {index + 1}: wall {wall:.2f} s, pytest {seconds:.2f} s ({counts}); slowest: {'; '.join(slow)}")
    print(f"median: wall {statistics.median(walls):.2f} s, pytest {statistics.median(tests):.2f} s")


if __name__ == "__main__":
    main()
