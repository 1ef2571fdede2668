"""``stripe-smoke checkout``: create, pay, verify (one receipt, or every pending one) and all three in one go."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from smoke.errors import EXIT_FAILED, EXIT_OK, ConfigError, SmokeError
from smoke.redact import Redactor


def _checkout_settings(args: argparse.Namespace) -> Any:
    """Settings for a checkout command: its options, then the environment and .env."""
    from smoke.config import load_env_file, resolve_settings

    load_env_file(getattr(args, "env_file", None))
    given = {"target": getattr(args, "target", None), "base_url": getattr(args, "base_url", None),
             "reports_dir": getattr(args, "reports_dir", None), "payer": getattr(args, "via", None),
             "card": getattr(args, "card", None), "verify_deadline": getattr(args, "deadline", None)}
    return resolve_settings({k: v for k, v in given.items() if v})


def checkout(args: argparse.Namespace, extra: list[str]) -> int:
    """The two-phase Checkout commands: create, pay, verify, and all three in one go."""
    import dataclasses
    import os

    from smoke import phases

    settings = _checkout_settings(args)
    redactor = args.redactor  # the command's: each phase's secrets join it, and its error line uses it
    if args.action == "verify":
        if args.pending:
            return verify_pending(settings, settings.verify_deadline, redactor)
        if not args.receipt:
            raise ConfigError("verify needs --receipt FILE (or SMOKE_RECEIPT_FILE), or --pending.")
        return phases.verify(Path(args.receipt), settings, deadline=settings.verify_deadline, redactor=redactor).exit_code
    if args.action == "pay":
        if not args.receipt:
            raise ConfigError("pay needs --receipt FILE (the file 'checkout create' printed).")
        result = phases.pay(Path(args.receipt), settings, via=settings.payer, card=settings.card,
                            three_ds=args.three_ds, fallback=args.fallback, headless=not args.headed,
                            deadline=settings.verify_deadline, redactor=redactor)
        return EXIT_OK if result.status == "succeeded" else EXIT_FAILED
    # create (and "all": create, pay, verify)
    embedded = None
    if not settings.base_url:
        from smoke.embedded import start_embedded
        from smoke.profiles import load_profile

        embedded = start_embedded(load_profile(settings.target), settings.webhook_secret)
        settings = dataclasses.replace(settings, stripe_api_key=settings.stripe_api_key or embedded.stripe_api_key,
                                       stripe_api_base=settings.stripe_api_base or embedded.stripe_api_base)
        if args.action == "create":
            print("No --base-url: using the embedded demo and the local Stripe emulator, which stop when this command "
                  "ends; keep them running with 'stripe-smoke demo' to pay and verify later.")
    try:
        receipt, path = phases.create(settings, settings.base_url or embedded.base_url,  # type: ignore[union-attr]
                                      redactor=redactor)
        if os.environ.get("SMOKE_OPEN_CHECKOUT_URL", "").lower() in ("1", "true", "yes") and args.action == "create":
            phases.open_in_browser(receipt.checkout_url or "")
        automate = os.environ.get("SMOKE_AUTOMATE_CHECKOUT", "").lower() in ("1", "true", "yes")
        if args.action == "create" and not automate:
            return EXIT_OK
        phases.pay(path, settings, via=settings.payer, card=settings.card, three_ds=args.three_ds,
                   fallback=args.fallback, headless=not args.headed, deadline=settings.verify_deadline,
                   redactor=redactor)
        if args.action == "create":
            return EXIT_OK
        return phases.verify(path, settings, deadline=settings.verify_deadline, redactor=redactor).exit_code
    finally:
        if embedded is not None:
            embedded.stop()


def verify_pending(settings: Any, deadline: float, redactor: Redactor) -> int:
    """Verify every unverified receipt, a status line each; one JUnit test case each in reports/junit-verify.xml."""
    import time
    import xml.etree.ElementTree as ET
    from collections import Counter

    from smoke import phases
    from smoke.receipts import pending

    folder = phases.receipts_dir(settings)
    paths = pending(folder)
    suite = ET.Element("testsuite", name="stripe-smoke verify")
    worst = EXIT_OK
    outcomes: Counter[str] = Counter()
    began = time.monotonic()
    for number, path in enumerate(paths, 1):
        print(f"[{number}/{len(paths)}] {path.stem}: verifying (deadline {deadline:g} s)", flush=True)
        started = time.monotonic()
        case = ET.SubElement(suite, "testcase", classname="receipts", name=path.stem)
        try:
            verdict = phases.verify(path, settings, deadline=deadline, redactor=redactor)
            code, exit_code, message = verdict.code, verdict.exit_code, redactor.redact(verdict.message)
        except SmokeError as exc:
            code, exit_code, message = "error", exc.exit_code, redactor.redact(str(exc))
        seconds = time.monotonic() - started
        case.set("time", f"{seconds:.3f}")
        if code == "error":  # the receipt, the configuration, the target or Stripe: nothing was judged
            ET.SubElement(case, "error", message=message, type=f"exit {exit_code}").text = message
        elif code == "inconclusive":  # as in every other report: skipped, never a defect
            ET.SubElement(case, "skipped", message=message, type=code).text = message
        elif exit_code:
            ET.SubElement(case, "failure", message=message, type=code).text = message
        outcomes[code] += 1
        if exit_code:
            worst = worst or exit_code
        shown = "verified" if not exit_code else f"not verified: {code} (exit {exit_code})"
        if code == "error":
            shown += f": {message}"
        print(f"[{number}/{len(paths)}] {path.stem}: {shown} after {seconds:.1f} s", flush=True)
    verified = outcomes.pop("verified", 0)
    not_verified = sum(outcomes.values())
    for name, count in (("tests", len(paths)), ("failures", not_verified - outcomes["error"] - outcomes["inconclusive"]),
                        ("errors", outcomes["error"]), ("skipped", outcomes["inconclusive"])):
        suite.set(name, str(count))
    suite.set("time", f"{time.monotonic() - began:.3f}")
    report = Path(settings.reports_dir) / "junit-verify.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(report, encoding="utf-8", xml_declaration=True)
    why = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items()) if count)
    print(f"{len(paths)} receipt(s): {verified} verified, {not_verified} not verified{f' ({why})' if why else ''}; "
          f"report: {report}", flush=True)
    return worst
