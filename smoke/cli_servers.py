"""``stripe-smoke demo``, ``emulator`` and ``emulator fault``: local servers until Ctrl-C, and a running emulator's outages."""

from __future__ import annotations

import argparse
from typing import Any

from smoke.errors import EXIT_OK, ConfigError


def demo(args: argparse.Namespace, extra: list[str]) -> int:
    """Serve the demo target (and, by default, the local Stripe emulator wired to it) until Ctrl-C."""

    from smoke.embedded import start_embedded
    from smoke.profiles import load_profile
    from smoke.servers import LOOPBACK, claim, serve_until_interrupted
    from smoke.signing import check_webhook_secret

    if args.secret and not args.no_stripe:
        raise ConfigError("--secret works only with --no-stripe: the emulator makes the endpoint's secret, as Stripe does.")
    secret = check_webhook_secret(args.secret) if args.secret else None
    if args.stripe_port and not args.no_stripe:
        claim(LOOPBACK, args.stripe_port, "--stripe-port")  # name the flag that chose the busy port
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
    serve_until_interrupted(running.stop)
    return EXIT_OK


def emulator(args: argparse.Namespace, extra: list[str]) -> int:
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


def emulator_fault(args: argparse.Namespace, extra: list[str]) -> int:
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
