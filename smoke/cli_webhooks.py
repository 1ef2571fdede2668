"""``stripe-smoke send`` and ``sign``: one signed event posted to a webhook, or a Stripe-Signature header."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from smoke.errors import EXIT_FAILED, EXIT_OK, ConfigError, SmokeError, TargetUnreachable


def send(args: argparse.Namespace, extra: list[str]) -> int:
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


def sign(args: argparse.Namespace, extra: list[str]) -> int:
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
