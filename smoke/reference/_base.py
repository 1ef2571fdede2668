"""The base every reference target stands on: opening its app, its per-app state, the webhook's tail, serving it.

A style is a Flask Blueprint of module-level views; ``open_app`` makes the app (faults checked, a fresh SQLite
store, a Stripe client) and registers the blueprint. Views read the app they serve through ``db()``, ``faults()``,
``secret()``, ``stripe_api()`` and ``settings(kind)`` instead of closure variables.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import stripe
from flask import Blueprint, Flask, current_app, request

from smoke.reference._common import BadEvent, parse, stripe_client, verify, well_formed
from smoke.reference._store import Database
from smoke.servers import RunningServer, serve

T = TypeVar("T")
Handler = Callable[[sqlite3.Connection, dict[str, Any]], str]


class Duplicate(Exception):
    """The event was processed before."""


class Malformed(BadEvent):
    """A parseable JSON object that is not a Stripe event envelope (no id, type or ``data.object``)."""


def open_app(style: str, routes: Blueprint, webhook_secret: str, faults: Collection[str], *, known: Collection[str],
             schema: str, public_url: str = "", stripe_api_key: str | None = None, stripe_api_base: str | None = None,
             stripe_timeout: float | None = None, settings: object = None, **config: Any) -> Flask:
    """A reference target's app: ``faults`` checked against ``known``, a fresh store, ``routes`` registered."""
    unknown = set(faults) - set(known)
    if unknown:
        raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
    app = Flask(f"smoke-{style}")
    # The secret is read per request: an embedded run learns it only after the endpoint is registered.
    app.config.update(DB=Database(schema), FAULTS=frozenset(faults), WEBHOOK_SECRET=webhook_secret, PUBLIC_URL=public_url,
                      STRIPE=stripe_client(stripe_api_key, stripe_api_base, timeout=stripe_timeout), SETTINGS=settings,
                      **config)
    app.register_blueprint(routes)
    return app


def serve_target(app: Flask, name: str, port: int = 0) -> RunningServer:
    """Serve a reference target on loopback; its own URL is its public one unless one was configured."""
    running = serve(app, port=port, name=name)
    if not app.config.get("PUBLIC_URL"):
        app.config["PUBLIC_URL"] = running.url
    return running


# -- the state of the app serving this request ----------------------------------------------------------------------
def db() -> Database:
    """The store of the app serving this request."""
    store: Database = current_app.config["DB"]
    return store


def faults() -> frozenset[str]:
    """The faults (and quirks) switched on in the app serving this request."""
    active: frozenset[str] = current_app.config["FAULTS"]
    return active


def secret() -> str:
    """The webhook signing secret, as configured now."""
    return str(current_app.config["WEBHOOK_SECRET"])


def stripe_api() -> stripe.StripeClient | None:
    """The app's Stripe client, or None when no Stripe key was given (placeholder sessions)."""
    client: stripe.StripeClient | None = current_app.config["STRIPE"]
    return client


def settings(kind: type[T]) -> T:
    """The style's own settings (``kind``) of the app serving this request."""
    value = current_app.config["SETTINGS"]
    if not isinstance(value, kind):
        raise TypeError(f"the app's settings are {type(value).__name__}, not {kind.__name__}")
    return value


def public_base() -> str:
    """The URL buyers are sent back to: the configured public one, else the one this request came in on."""
    return str(current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/"))


# -- the webhook's tail: verify → dedupe → handle → record ----------------------------------------------------------
def signed_event(*, check_signature: bool = True) -> dict[str, Any]:
    """This request's event, its signature verified on the raw body; raises BadEvent (Malformed if not an envelope)."""
    payload = request.get_data(cache=False)
    event = verify(payload, request.headers.get("Stripe-Signature"), secret()) if check_signature else parse(payload)
    if not well_formed(event):
        raise Malformed("payload_invalid")
    return event


def record_event(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """Remember the event id in the same transaction as its effect: one seen before raises Duplicate."""
    try:
        conn.execute("INSERT INTO stripe_events VALUES (?, ?, ?)", (event["id"], event["type"], int(time.time())))
    except sqlite3.IntegrityError:
        raise Duplicate from None


def handle_once(event: dict[str, Any], handler: Handler, *, dedupe: bool = True) -> str:
    """Record the event and run ``handler`` in one transaction (raises Duplicate); without ``dedupe``, only handle."""
    with db().transaction() as conn:
        if dedupe:
            record_event(conn, event)
        return handler(conn, event)
