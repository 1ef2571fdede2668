"""``stripe-smoke run`` (the suites under pytest, its exit status mapped to ours) and ``profile check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smoke.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the smoke suites (pytest underneath); extra arguments pass through to pytest."""
    import os
    import subprocess

    from smoke.config import OPTIONS, load_env_file
    from smoke.preflight import check_reports_dir

    # Settings, profile, secret and target are checked by the plugin before collection (plugin.py), so
    # `stripe-smoke run` and `pytest --pyargs smoke.suites` (with or without -n) fail the same way.
    load_env_file(args.env_file)
    suites = Path(__file__).resolve().parent / "suites"
    options = [sys.executable, "-m", "pytest", str(suites)]
    for option in OPTIONS:
        value = getattr(args, f"smoke_{option.name}")
        if value is True:
            options.append(option.flag)
        elif value not in (None, False):
            options += [option.flag, str(value)]
    for name in ("env_file", "secret_file"):
        if getattr(args, name):
            options += [f"--{name.replace('_', '-')}", getattr(args, name)]
    reports = check_reports_dir(args.smoke_reports_dir or os.environ.get("SMOKE_REPORTS_DIR") or "reports")
    if not args.smoke_reports_dir:
        options += ["--reports-dir", str(reports)]
    options += ["-p", "no:cacheprovider", "-v"]
    if not any(a.startswith("--junitxml") or a.startswith("--junit-xml") for a in extra):
        options.append(f"--junitxml={reports / 'junit.xml'}")
    if not any(a.startswith("--alluredir") for a in extra):
        options.append(f"--alluredir={reports / 'allure-results'}")
        if not args.keep_allure_history:
            options.append("--clean-alluredir")
    # A child process: pytest must import (and assertion-rewrite) the plugin itself.
    code = subprocess.call(options + extra)
    return PYTEST_EXIT_CODES.get(code, EXIT_FAILED)


# pytest's exit status → ours: 3 and 4 are set by the plugin for an unreachable target and bad
# configuration; pytest's own usage errors (4) and "no tests selected" (5) are configuration too.
# 6 (EXIT_INCONCLUSIVE) is the plugin's too: nothing failed, but something could not be observed.
# pytest's 2 is an interruption (Ctrl-C).
PYTEST_EXIT_CODES = {0: EXIT_OK, 1: EXIT_FAILED, 2: EXIT_INTERRUPTED, 3: EXIT_UNREACHABLE, 4: EXIT_CONFIG,
                     5: EXIT_CONFIG, 6: EXIT_INCONCLUSIVE}


def profile(args: argparse.Namespace, extra: list[str]) -> int:
    """Validate a profile and try every step a run needs against a target (``profile check``)."""
    import os

    from smoke.config import check_base_url
    from smoke.profile_check import check_profile

    base_url = args.base_url or os.environ.get("BASE_URL") or None
    if base_url:
        base_url = check_base_url(base_url, "--base-url")
    return check_profile(args.file, base_url, create=not args.no_create, http_timeout=args.http_timeout,
                         redactor=args.redactor)
