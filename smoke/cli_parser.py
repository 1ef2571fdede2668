"""The ``stripe-smoke`` argument parser: one ``_add_<command>`` each, usage errors as one sentence and exit 4."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from smoke import cli_checkout, cli_run, cli_servers, cli_webhooks
from smoke.errors import EXIT_CONFIG, ConfigError


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
    run.set_defaults(handler=cli_run.run)


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
    send.set_defaults(handler=cli_webhooks.send)


def _add_sign(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke sign``: a Stripe-Signature header for stdin."""
    import os

    sign = sub.add_parser("sign", help="print a Stripe-Signature header for the body on stdin")
    sign.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"), help="whsec_… [env STRIPE_WEBHOOK_SECRET]")
    sign.add_argument("--timestamp", type=_number(int, minimum=0, maximum=2**40), help="unix time to sign with (default: now)")
    sign.add_argument("--curl", metavar="URL", help="print a ready curl command posting stdin to URL")
    sign.set_defaults(handler=cli_webhooks.sign)


def _add_demo(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``stripe-smoke demo``: the demo target and a local Stripe."""
    demo = sub.add_parser("demo", help="serve the demo target and a local Stripe wired to it, on loopback")
    demo.add_argument("--port", type=_PORT, default=0, help="port (default: a free one)")
    demo.add_argument("--secret", help="webhook secret to use, with --no-stripe (default: a new one)")
    demo.add_argument("--no-stripe", action="store_true", help="serve the target alone, without the local Stripe emulator")
    demo.add_argument("--stripe-port", type=_PORT, default=0, help="the emulator's port (default: a free one)")
    demo.set_defaults(handler=cli_servers.demo)


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
    checkout.set_defaults(handler=cli_checkout.checkout)


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
    profile.set_defaults(handler=cli_run.profile)


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
    emulator.set_defaults(handler=cli_servers.emulator)
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
    fault.set_defaults(handler=cli_servers.emulator_fault)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = _Parser(prog="stripe-smoke", description="Prove that a billing API credits Stripe payments correctly.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_run, _add_send, _add_sign, _add_demo, _add_checkout, _add_profile, _add_emulator):
        add(sub)
    return parser
