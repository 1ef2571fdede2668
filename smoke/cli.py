"""The ``stripe-smoke`` command. Heavy imports happen inside commands so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smoke.errors import ConfigError, SmokeError

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 3, 4


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the smoke suites (pytest underneath); extra arguments pass through to pytest."""
    import os
    import subprocess

    suites = Path(__file__).resolve().parent / "suites"
    options = [sys.executable, "-m", "pytest", str(suites)]
    for name in ("target", "base_url", "env_file"):
        value = getattr(args, name)
        if value:
            options += [f"--{name.replace('_', '-')}", value]
    reports = Path(args.reports_dir or os.environ.get("SMOKE_REPORTS_DIR") or "reports")
    options += ["-p", "no:cacheprovider", "-v", "--reports-dir", str(reports)]
    if not any(a.startswith("--junitxml") or a.startswith("--junit-xml") for a in extra):
        options.append(f"--junitxml={reports / 'junit.xml'}")
    if not any(a.startswith("--alluredir") for a in extra):
        options.append(f"--alluredir={reports / 'allure-results'}")
    # A child process: pytest must import (and assertion-rewrite) the plugin itself.
    code = subprocess.call(options + extra)
    return _EXIT_CODES.get(code, EXIT_FAILED)


# pytest's exit status → ours: 3 and 4 are set by the plugin for an unreachable target and bad
# configuration; pytest's own usage errors (4) and "no tests selected" (5) are configuration too.
_EXIT_CODES = {0: EXIT_OK, 1: EXIT_FAILED, 2: EXIT_FAILED, 3: EXIT_UNREACHABLE, 4: EXIT_CONFIG, 5: EXIT_CONFIG}


def _send(args: argparse.Namespace, extra: list[str]) -> int:
    """Sign and POST one event to a webhook URL, printing what came back."""
    import json

    import httpx

    from smoke.config import check_base_url
    from smoke.events import Payment, build_event, to_body
    from smoke.signing import check_webhook_secret, delivery_headers

    url = check_base_url(args.to, "--to")
    secret = check_webhook_secret(args.secret, "--secret (or STRIPE_WEBHOOK_SECRET)")
    if args.from_file:
        try:
            event = json.loads(Path(args.from_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.from_file} is not a readable JSON event ({exc}); pass a file holding one event.") from None
    else:
        event = build_event(args.event_type, Payment(amount=args.amount), api_version=args.api_version)
    for assignment in args.set or []:
        _assign(event, assignment)
    body = to_body(event)
    headers = delivery_headers(body, [secret])
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        raise SmokeError(f"Could not deliver to {url} ({type(exc).__name__}); check the URL and that the server runs.") from None
    print(f"{event.get('type')} {event.get('id')} → HTTP {response.status_code}")
    if response.text:
        from smoke.redact import redact

        print(redact(response.text[:2000]))
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
    node = event
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {path}: {key} is not an object in this event.")
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
    """Serve the demo top-ups target until Ctrl-C."""
    import secrets
    import threading

    from smoke.reference.topups import start
    from smoke.signing import check_webhook_secret

    secret = check_webhook_secret(args.secret) if args.secret else "whsec_" + secrets.token_urlsafe(24)
    server = start(secret, port=args.port)
    print(f"demo target on {server.url}\nwebhook: {server.url}/api/webhooks/stripe\n"
          f"secret:  STRIPE_WEBHOOK_SECRET={secret}\nrun:     stripe-smoke run --target demo --base-url {server.url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return EXIT_OK


def _emulator(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the local Stripe emulator until Ctrl-C."""
    from smoke.emulator import serve_forever

    serve_forever(args.port)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    import os

    parser = argparse.ArgumentParser(prog="stripe-smoke", description="Prove that a billing API credits Stripe payments correctly.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the smoke suites against a target (pytest options pass through)")
    run.add_argument("--target", help="profile name or .toml path (default: demo) [env SMOKE_TARGET]")
    run.add_argument("--base-url", help="the billing API's base URL; omit to start the embedded demo [env BASE_URL]")
    run.add_argument("--env-file", help="read settings from this file instead of ./.env")
    run.add_argument("--reports-dir", help="where junit.xml, allure-results/ and summary.md go (default: reports) [env SMOKE_REPORTS_DIR]")
    run.set_defaults(handler=_run)

    send = sub.add_parser("send", help="sign and send one Stripe event to a webhook URL")
    send.add_argument("event_type", help="event type, e.g. checkout.session.completed")
    send.add_argument("--to", required=True, help="the webhook URL")
    send.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"), help="whsec_… [env STRIPE_WEBHOOK_SECRET]")
    send.add_argument("--set", action="append", metavar="PATH=VALUE", help="set a field, e.g. data.object.metadata.orgId=42")
    send.add_argument("--from-file", help="send this JSON event instead of a template")
    send.add_argument("--amount", type=int, default=500, help="amount in minor units (default 500)")
    send.add_argument("--api-version", default="2025-04-30.basil", help="API version to render the event in")
    send.add_argument("--timeout", type=float, default=15.0, help="HTTP timeout in seconds")
    send.set_defaults(handler=_send)

    sign = sub.add_parser("sign", help="print a Stripe-Signature header for the body on stdin")
    sign.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"), help="whsec_… [env STRIPE_WEBHOOK_SECRET]")
    sign.add_argument("--timestamp", type=int, help="unix time to sign with (default: now)")
    sign.add_argument("--curl", metavar="URL", help="print a ready curl command posting stdin to URL")
    sign.set_defaults(handler=_sign)

    demo = sub.add_parser("demo", help="serve the demo top-ups target on loopback")
    demo.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    demo.add_argument("--secret", help="webhook secret to use (default: a new one)")
    demo.set_defaults(handler=_demo)

    emulator = sub.add_parser("emulator", help="run the local Stripe emulator on loopback")
    emulator.add_argument("--port", type=int, default=12111, help="port (default 12111)")
    emulator.set_defaults(handler=_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``stripe-smoke``; user errors print one line and set the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.handler(args, extra))
    except SmokeError as exc:
        from smoke.redact import redact

        print(f"stripe-smoke: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
