"""The ``stripe-smoke`` command. Heavy imports happen inside commands so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from smoke.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    ConfigError,
    SmokeError,
    TargetUnreachable,
)
from smoke.redact import Redactor


def _run(args: argparse.Namespace, extra: list[str]) -> int:
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
    return _EXIT_CODES.get(code, EXIT_FAILED)


# pytest's exit status → ours: 3 and 4 are set by the plugin for an unreachable target and bad
# configuration; pytest's own usage errors (4) and "no tests selected" (5) are configuration too.
# 6 (EXIT_INCONCLUSIVE) is the plugin's too: nothing failed, but something could not be observed.
# pytest's 2 is an interruption (Ctrl-C).
_EXIT_CODES = {0: EXIT_OK, 1: EXIT_FAILED, 2: EXIT_INTERRUPTED, 3: EXIT_UNREACHABLE, 4: EXIT_CONFIG, 5: EXIT_CONFIG,
               6: EXIT_INCONCLUSIVE}


def _send(args: argparse.Namespace, extra: list[str]) -> int:
    """Sign and POST one event to a webhook URL, printing what came back."""

    import httpx

    from smoke.config import check_base_url
    from smoke.events import Payment, build_event, to_body
    from smoke.signing import check_webhook_secret, delivery_headers

    url = check_base_url(args.to, "--to")
    secret = check_webhook_secret(args.secret, "--secret (or STRIPE_WEBHOOK_SECRET)")
    if args.from_file:
        from smoke.files import read_json

        event = read_json(Path(args.from_file), "event file", fix="pass a file holding one event")
        if not isinstance(event, dict):
            raise ConfigError(f"{args.from_file} holds a JSON {type(event).__name__}, not an event; pass a file holding "
                              "one event object ({\"id\": \"evt_…\", \"type\": …, \"data\": {\"object\": …}}).")
    else:
        event = build_event(args.event_type, Payment(amount=args.amount), api_version=args.api_version)
    for assignment in args.set or []:
        _assign(event, assignment)
    body = to_body(event)
    headers = delivery_headers(body, [secret])
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=args.timeout)
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise TargetUnreachable(f"Could not deliver to {url} ({type(exc).__name__}); check the URL and that the server "
                                "runs.") from None
    except httpx.HTTPError as exc:
        raise SmokeError(f"Could not deliver to {url} ({type(exc).__name__}); check the URL.") from None
    print(f"{event.get('type')} {event.get('id')} → HTTP {response.status_code}")
    if response.text:
        print(args.redactor.redact(response.text[:2000]))
    return EXIT_OK if response.is_success else EXIT_FAILED


def _assign(event: dict, assignment: str) -> None:
    """Apply ``data.object.metadata.orgId=42`` to an event (JSON values allowed: numbers, true, null)."""
    import json

    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {assignment!r} must look like data.object.metadata.orgId=42.")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    node: Any = event
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {path}: {key} is not an object in this event; set a field of an object.")
    node[keys[-1]] = value


def _sign(args: argparse.Namespace, extra: list[str]) -> int:
    """Print a Stripe-Signature header for the body on standard input (and a curl line with --curl)."""
    import shlex

    from smoke.signing import check_webhook_secret, signature_header

    secret = check_webhook_secret(args.secret, "--secret (or STRIPE_WEBHOOK_SECRET)")
    body = sys.stdin.buffer.read()
    header = signature_header(body, [secret], args.timestamp)
    if args.curl:
        print(f"curl -sS -X POST {shlex.quote(args.curl)} -H 'Content-Type: application/json; charset=utf-8' "
              f"-H {shlex.quote('Stripe-Signature: ' + header)} --data-binary @-")
    else:
        print(header)
    return EXIT_OK


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    """Serve the demo target (and, by default, the local Stripe emulator wired to it) until Ctrl-C."""
    import threading

    from smoke.embedded import start_embedded
    from smoke.profiles import load_profile
    from smoke.signing import check_webhook_secret

    if args.secret and not args.no_stripe:
        raise ConfigError("--secret works only with --no-stripe: the emulator makes the endpoint's secret, as Stripe does.")
    secret = check_webhook_secret(args.secret) if args.secret else None
    running = start_embedded(load_profile("demo"), secret, with_stripe=not args.no_stripe, port=args.port,
                             emulator_port=args.stripe_port)
    lines = [f"demo target:  {running.base_url}   (webhook: {running.base_url}/api/webhooks/stripe)"]
    if running.stripe_api_base:
        lines.append(f"local Stripe: {running.stripe_api_base}   (endpoint registered; deliveries: "
                     f"{running.stripe_api_base}/_emulator/deliveries)")
    lines += ["", "In another shell:", f"  export BASE_URL={running.base_url}",
              f"  export STRIPE_WEBHOOK_SECRET={running.webhook_secret}"]
    if running.stripe_api_base:
        lines += [f"  export STRIPE_API_BASE={running.stripe_api_base}", f"  export STRIPE_API_KEY={running.stripe_api_key}"]
    lines += ["  stripe-smoke run --target demo"]
    if running.stripe_api_base:
        lines += ["  stripe-smoke checkout create --target demo   # then: checkout pay / checkout verify --receipt FILE"]
    print("\n".join(lines), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return EXIT_OK


def _emulator(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the local Stripe emulator until Ctrl-C (over TLS as api.stripe.com with ``--tls``)."""
    import os

    if not (args.tls or args.host or args.forward_to or args.ca_dir):
        from smoke.emulator import serve_forever

        serve_forever(args.port)
        return EXIT_OK
    if args.ca_dir and not args.tls:
        raise ConfigError("--ca-dir works only with --tls: without TLS there is no certificate to keep.")
    from smoke.emulator.standin import run

    run(args.port, tls=args.tls, host=args.host or "127.0.0.1", forward=args.forward_to,
        secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or None, ca_dir=args.ca_dir)
    return EXIT_OK


def _emulator_fault(args: argparse.Namespace, extra: list[str]) -> int:
    """Start, list or end the injected Stripe outages of a running emulator (``emulator fault``)."""
    from smoke.config import check_base_url
    from smoke.emulator.faults import add_fault, clear_faults, list_faults

    if not args.api_base:
        raise ConfigError("emulator fault needs --api-base URL (or STRIPE_API_BASE): the address of a running "
                          "stripe-smoke emulator.")
    base = check_base_url(args.api_base, "--api-base")
    if args.clear:
        print(f"ended {clear_faults(base, timeout=args.timeout)} fault(s) on {base}")
        return EXIT_OK
    if args.list:
        faults = list_faults(base, timeout=args.timeout)
        for fault in faults:
            print(_describe_fault(fault))
        print(f"{len(faults)} fault(s) on {base}")
        return EXIT_OK
    fault = add_fault(base, calls=args.calls, seconds=args.seconds, kind=args.kind, route=args.route,
                      about=args.about or (), hold_seconds=args.hold_seconds, timeout=args.timeout)
    print(_describe_fault(fault))
    print(f"see it: stripe-smoke emulator fault --list --api-base {base} · end it: stripe-smoke emulator fault "
          f"--clear --api-base {base}")
    return EXIT_OK


def _describe_fault(fault: dict[str, Any]) -> str:
    """``flt_… api_error on /v1/payment_intents: the next 3 calls (failed 1, 2 left), active``."""
    what = {"api_error": "answers 500 api_error", "reset": "closes the connection",
            "timeout": f"holds the call {fault.get('hold_seconds')} s, then closes it"}.get(str(fault.get("kind")), "?")
    scope = (f"the next {fault['calls']} call(s)" if fault.get("calls") is not None
             else f"every call for {fault.get('seconds'):g} s")
    about = f" about {', '.join(fault['about'])}" if fault.get("about") else ""
    left = (f", {fault['remaining_calls']} left" if fault.get("remaining_calls") is not None
            else f", {fault.get('seconds_left')} s left")
    return (f"{fault['id']} {what} to {fault['route']}{about}: {scope} (failed {fault['fired']}{left}), "
            f"{'active' if fault.get('active') else 'ended'}")


def _profile(args: argparse.Namespace, extra: list[str]) -> int:
    """Validate a profile and try every step a run needs against a target (``profile check``)."""
    import os

    from smoke.config import check_base_url
    from smoke.profile_check import check_profile

    base_url = args.base_url or os.environ.get("BASE_URL") or None
    if base_url:
        base_url = check_base_url(base_url, "--base-url")
    return check_profile(args.file, base_url, create=not args.no_create, http_timeout=args.http_timeout,
                         redactor=args.redactor)


def _checkout_settings(args: argparse.Namespace) -> Any:
    """Settings for a checkout command: its options, then the environment and .env."""
    from smoke.config import load_env_file, resolve_settings

    load_env_file(getattr(args, "env_file", None))
    given = {"target": getattr(args, "target", None), "base_url": getattr(args, "base_url", None),
             "reports_dir": getattr(args, "reports_dir", None), "payer": getattr(args, "via", None),
             "card": getattr(args, "card", None), "verify_deadline": getattr(args, "deadline", None)}
    return resolve_settings({k: v for k, v in given.items() if v})


def _checkout(args: argparse.Namespace, extra: list[str]) -> int:
    """The two-phase Checkout commands: create, pay, verify, and all three in one go."""
    import dataclasses
    import os

    from smoke import phases

    settings = _checkout_settings(args)
    redactor = args.redactor  # the command's: each phase's secrets join it, and its error line uses it
    if args.action == "verify":
        if args.pending:
            return _verify_pending(settings, settings.verify_deadline, redactor)
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


def _verify_pending(settings: Any, deadline: float, redactor: Redactor) -> int:
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


class _Parser(argparse.ArgumentParser):
    """argparse, with the CLI contract's usage error: one sentence on stderr and exit code 4."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and where the help is, then exit 4."""
        sys.stderr.write(f"{self.prog}: {message}; see '{self.prog} --help'.\n")
        sys.exit(EXIT_CONFIG)


def _number(kind: type = float, **bounds: Any) -> Any:
    """An argparse type: a finite number within ``bounds`` (see config.check_number)."""
    from smoke.config import check_number

    def parse(text: str) -> Any:
        try:
            return check_number(text, "the value", kind=kind, **bounds)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None

    return parse


_SECONDS = _number(positive=True, maximum=86400.0)
_PORT = _number(int, minimum=0, maximum=65535)


def _add_run(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke run``: the smoke suites, with every setting as an option."""
    from smoke.config import OPTIONS

    run = sub.add_parser("run", help="run the smoke suites against a target (pytest options pass through)",
                         description="Run the smoke suites. Every option also reads its environment variable, .env "
                                     "and a smoke_<name> ini key; any other argument goes to pytest (-k, -n, -x…).")
    for option in OPTIONS:
        if option.kind is bool:
            run.add_argument(option.flag, dest=f"smoke_{option.name}", action="store_true", default=None,
                             help=option.help_text())
        else:
            run.add_argument(option.flag, dest=f"smoke_{option.name}", metavar=option.name.upper(),
                             help=option.help_text())
    run.add_argument("--env-file", help="read settings from this file instead of ./.env")
    run.add_argument("--secret-file", help="read secrets (KEY=VALUE lines) from this file; every value is masked [env SMOKE_SECRET_FILE]")
    run.add_argument("--keep-allure-history", action="store_true",
                     help="keep earlier runs' results in allure-results/ (default: this run's only)")
    run.set_defaults(handler=_run)


def _add_send(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke send``: sign and send one event."""
    import os

    send = sub.add_parser("send", help="sign and send one Stripe event to a webhook URL")
    send.add_argument("event_type", help="event type, e.g. checkout.session.completed")
    send.add_argument("--to", required=True, help="the webhook URL")
    send.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"), help="whsec_… [env STRIPE_WEBHOOK_SECRET]")
    send.add_argument("--set", action="append", metavar="PATH=VALUE", help="set a field, e.g. data.object.metadata.orgId=42")
    send.add_argument("--from-file", help="send this JSON event instead of a template")
    send.add_argument("--amount", type=_number(int, minimum=0, maximum=99_999_999), default=500,
                      help="amount in minor units (default 500)")
    send.add_argument("--api-version", default="2025-04-30.basil", help="API version to render the event in")
    send.add_argument("--timeout", type=_SECONDS, default=15.0, help="HTTP timeout in seconds")
    send.set_defaults(handler=_send)


def _add_sign(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke sign``: a Stripe-Signature header for stdin."""
    import os

    sign = sub.add_parser("sign", help="print a Stripe-Signature header for the body on stdin")
    sign.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"), help="whsec_… [env STRIPE_WEBHOOK_SECRET]")
    sign.add_argument("--timestamp", type=_number(int, minimum=0, maximum=2**40), help="unix time to sign with (default: now)")
    sign.add_argument("--curl", metavar="URL", help="print a ready curl command posting stdin to URL")
    sign.set_defaults(handler=_sign)


def _add_demo(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke demo``: the demo target and a local Stripe."""
    demo = sub.add_parser("demo", help="serve the demo target and a local Stripe wired to it, on loopback")
    demo.add_argument("--port", type=_PORT, default=0, help="port (default: a free one)")
    demo.add_argument("--secret", help="webhook secret to use, with --no-stripe (default: a new one)")
    demo.add_argument("--no-stripe", action="store_true", help="serve the target alone, without the local Stripe emulator")
    demo.add_argument("--stripe-port", type=_PORT, default=0, help="the emulator's port (default: a free one)")
    demo.set_defaults(handler=_demo)


def _add_checkout(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke checkout``: real Checkout in phases."""
    import os

    checkout = sub.add_parser("checkout", help="real Checkout in phases: create, pay, verify (joined by a receipt file)")
    checkout.add_argument("action", choices=["create", "pay", "verify", "all"],
                          help="create: start a session and write a receipt; pay: pay it; verify: judge the credit; all: the three")
    checkout.add_argument("--target", help="profile name or .toml path [env SMOKE_TARGET]")
    checkout.add_argument("--base-url", help="the billing API (omit for the embedded demo + emulator) [env BASE_URL]")
    checkout.add_argument("--receipt", default=os.environ.get("SMOKE_RECEIPT_FILE"), help="receipt file [env SMOKE_RECEIPT_FILE]")
    checkout.add_argument("--pending", action="store_true",
                          help="verify every unverified receipt in reports/receipts/ (a line as each starts and ends, then the counts; "
                               "JUnit in reports/junit-verify.xml)")
    checkout.add_argument("--via", default=None, choices=["browser", "api", "person"],
                          help="who pays: Playwright, Stripe's API (test mode), or a person [env SMOKE_PAYER]")
    checkout.add_argument("--card", default=None, help="test card number (default 4242…) [env SMOKE_CARD]")
    checkout.add_argument("--three-ds", default="complete", choices=["complete", "fail"], help="answer to a 3D Secure challenge")
    checkout.add_argument("--fallback", choices=["api"], help="when the page can't be automated, pay through the API")
    checkout.add_argument("--headed", action="store_true", help="show the browser")
    checkout.add_argument("--deadline", type=_SECONDS, default=None,
                          help="seconds verify (and the person payer) wait, with a status line every 2 s; an expired session "
                               "ends the wait at once (default 600) [env SMOKE_VERIFY_DEADLINE]")
    checkout.add_argument("--reports-dir", help="where receipts and artifacts go (default: reports) [env SMOKE_REPORTS_DIR]")
    checkout.add_argument("--env-file", help="read settings from this file instead of ./.env")
    checkout.set_defaults(handler=_checkout)


def _add_profile(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke profile check``: validate a profile and try its steps."""
    profile = sub.add_parser("profile", help="validate a profile and try every step a run needs against a target")
    profile.add_argument("action", choices=["check"],
                         help="check: validate, then run the buyer, setup, state and purchase steps and show each exchange")
    profile.add_argument("file", help="profile name or .toml path")
    profile.add_argument("--base-url", help="the billing API to try the steps against (omit to validate only) [env BASE_URL]")
    profile.add_argument("--no-create", action="store_true",
                         help="send only GET steps: skip the buyer, setup and purchase steps that create things "
                              "(state may then be unreadable)")
    profile.add_argument("--http-timeout", type=_SECONDS, default=15.0, help="timeout of every request, in seconds (default 15)")
    profile.set_defaults(handler=_profile)


def _add_emulator(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke emulator`` and its ``fault`` action."""
    import os

    emulator = sub.add_parser("emulator", help="run the local Stripe emulator on loopback (or inject outages into one)")
    emulator.add_argument("--port", type=_PORT, default=12111, help="port (default 12111; 0: a free one)")
    emulator.add_argument("--tls", action="store_true",
                          help="serve HTTPS as api.stripe.com and checkout.stripe.com with a local CA (made once; prints how "
                               "to trust and reach it; clients of https://api.stripe.com need --port 443)")
    emulator.add_argument("--ca-dir", help="where --tls keeps its CA (default ~/.local/share/stripe-smoke/ca) "
                                           "[env STRIPE_SMOKE_CA_DIR]")
    emulator.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 only inside a container)")
    emulator.add_argument("--forward-to", metavar="URL",
                          help="deliver every event to this webhook URL, on any host (e.g. http://api:3000/webhooks/stripe), "
                               "signed with STRIPE_WEBHOOK_SECRET or a new secret it prints")
    emulator.set_defaults(handler=_emulator)
    emulator_sub = emulator.add_subparsers(dest="emulator_action", metavar="ACTION")
    fault = emulator_sub.add_parser(
        "fault", help="make a running emulator fail the target's next Stripe calls (or a route for a while); list or end them",
        description="Fail the calls a target makes to a running emulator (never the harness's own): the next --calls N, "
                    "or every call for --seconds S, to --route; --list shows them and how many fired, --clear ends them.")
    fault.add_argument("--api-base", default=os.environ.get("STRIPE_API_BASE"),
                       help="the running emulator, e.g. http://127.0.0.1:12111 [env STRIPE_API_BASE]")
    action = fault.add_mutually_exclusive_group(required=True)
    action.add_argument("--calls", type=_number(int, minimum=1, maximum=100_000), help="fail the next N matching calls")
    action.add_argument("--seconds", type=_SECONDS, help="fail every matching call for S seconds")
    action.add_argument("--list", action="store_true", help="list the faults and how many calls each failed")
    action.add_argument("--clear", action="store_true", help="end every fault")
    fault.add_argument("--kind", choices=["api_error", "timeout", "reset"], default="api_error",
                       help="api_error: Stripe's 500; timeout: hold the call past the client's timeout, then close it; "
                            "reset: close the connection without an answer (default api_error)")
    fault.add_argument("--route", default="/v1/", help="path prefix of the calls to fail (default /v1/: every API call)")
    fault.add_argument("--about", action="append", metavar="ID",
                       help="fail only calls about this Stripe id (pi_…, cs_…; an event or charge of it counts); repeatable")
    fault.add_argument("--hold-seconds", type=_number(positive=True, maximum=300.0), default=30.0,
                       help="with --kind timeout: how long a call is held (default 30, at most 300)")
    fault.add_argument("--timeout", type=_SECONDS, default=10.0, help="HTTP timeout talking to the emulator (default 10)")
    fault.set_defaults(handler=_emulator_fault)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = _Parser(prog="stripe-smoke", description="Prove that a billing API credits Stripe payments correctly.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_run, _add_send, _add_sign, _add_demo, _add_checkout, _add_profile, _add_emulator):
        add(sub)
    return parser


_SECRET_FLAGS = ("--webhook-secret", "--stripe-api-key", "--secret")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``stripe-smoke``; user errors print one line and set the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    on_command_line = [flag for flag in _SECRET_FLAGS if any(a == flag or a.startswith(flag + "=") for a in given)]
    if on_command_line:
        print(f"stripe-smoke: warning: {on_command_line[0]} on the command line is visible to other users (ps) and "
              "kept in shell history; prefer its environment variable or --secret-file.", file=sys.stderr)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.redactor = Redactor()  # this command's: what it learns (a step's token) is masked in all it prints
    try:
        return int(args.handler(args, extra))
    except SmokeError as exc:
        print(f"stripe-smoke: {args.redactor.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`stripe-smoke sign | head -c 20`): nothing more to say, and no one to say it to.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if os_environ_debug():
            raise
        print(f"stripe-smoke: internal error ({type(exc).__name__}: {args.redactor.redact(str(exc))[:200]}); this is a bug in "
              "stripe-smoke — rerun with STRIPE_SMOKE_DEBUG=1 for the traceback and report it.", file=sys.stderr)
        return EXIT_INTERNAL


def os_environ_debug() -> bool:
    """True when STRIPE_SMOKE_DEBUG asks for tracebacks."""
    import os

    return os.environ.get("STRIPE_SMOKE_DEBUG", "").lower() in ("1", "true", "yes")


if __name__ == "__main__":
    sys.exit(main())
