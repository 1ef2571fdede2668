"""The plumbing of ``/v1``: auth, params, idempotency, expansion, list pagination, Stripe-shaped answers."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, current_app, request

from smoke.emulator import billing
from smoke.emulator.errors import StripeApiError, auth_error, invalid
from smoke.emulator.forms import parse_form
from smoke.emulator.objects import list_object
from smoke.emulator.store import RequestInfo, Store
from smoke.events import DEFAULT_API_VERSION, new_id

_KEY = re.compile(r"(sk|rk)_test_[A-Za-z0-9_]{4,}")
NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, using "
          "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication "
          "for details, or we can help at https://support.stripe.com/.")


def redact_key(key: str) -> str:
    """``sk_test_****…1234``, as Stripe shows a key it refuses."""
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "*" * len(key)


def check_auth(header: str | None) -> str:
    """The API key from Bearer or basic auth; a 401 StripeApiError unless it is a test-mode key."""
    if not header:
        raise auth_error(NO_KEY)
    scheme, _, value = header.partition(" ")
    key = value.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode("utf-8").split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            raise auth_error("Invalid authorization header: basic auth must be base64 of 'KEY:'.") from None
    elif scheme.lower() != "bearer":
        raise auth_error("Invalid authorization header: use 'Authorization: Bearer sk_test_…'.")
    if key.startswith(("sk_live_", "rk_live_")):
        raise auth_error(f"The local Stripe emulator refuses live-mode keys ({redact_key(key)}): use a test-mode "
                         "key (sk_test_… or rk_test_…), and never give a live key to a test tool.")
    if not _KEY.fullmatch(key):
        raise auth_error(f"Invalid API Key provided: {redact_key(key)}")
    return key


def request_params() -> dict[str, Any]:
    """The request's parameters: the query string, and the form body of a POST."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    return parse_form(pairs)


def stripe_response(body: dict[str, Any], status: int, request_id: str, replayed: bool = False) -> Response:
    """JSON the way Stripe answers, with its headers."""
    response = Response(json.dumps(body, indent=2) + "\n", status=status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version") or DEFAULT_API_VERSION
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


Handler = Callable[..., Any]


def endpoint(handler: Handler) -> Callable[..., Response]:
    """Wrap a ``handler(store, params, **path_args) -> dict`` as a Stripe API view."""

    @functools.wraps(handler)
    def view(**path_args: Any) -> Response:
        """Authenticate, replay or run the handler under the store's lock, and answer as Stripe does."""
        store: Store = current_app.config["STORE"]
        request_id = new_id("req", 14)
        try:
            check_auth(request.headers.get("Authorization"))
            params = request_params()
        except StripeApiError as exc:
            return stripe_response(exc.body(), exc.status, request_id)
        version = request.headers.get("Stripe-Version") or DEFAULT_API_VERSION
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        fingerprint = json.dumps([request.method, request.path, params], sort_keys=True)
        with store.lock:
            if key:
                cached = store.state["idempotency"].get(key)
                if cached is not None:
                    if cached["fingerprint"] != fingerprint:
                        mismatch = StripeApiError(400, "idempotency_error", (
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different request."))
                        return stripe_response(mismatch.body(), mismatch.status, request_id)
                    return stripe_response(cached["body"], cached["status"], cached["request_id"], replayed=True)
            store.set_request(RequestInfo(request_id, key))
            try:
                result = handler(store, params, **path_args)
                body, status = present(store, result, params.get("expand") or [], version), 200
            except StripeApiError as exc:
                body, status = exc.body(), exc.status
            finally:
                store.set_request(None)
            if key and status < 500:
                store.state["idempotency"][key] = {"fingerprint": fingerprint, "status": status, "body": body,
                                                   "request_id": request_id}
        if request.method != "GET":
            store.save()
        return stripe_response(body, status, request_id)

    return view


# One row of a URL table: the rule, its HTTP methods, and the handler ``(store, params, **path_args) -> dict``.
Route = tuple[str, tuple[str, ...], Handler]


def blueprint_of(name: str, import_name: str, urls: Iterable[Route]) -> Blueprint:
    """A blueprint serving each ``(rule, methods, handler)`` of ``urls`` as a Stripe API view (see :func:`endpoint`)."""
    bp = Blueprint(name, import_name)
    for rule, methods, handler in urls:
        bp.add_url_rule(rule, endpoint=handler.__name__, view_func=endpoint(handler), methods=list(methods))
    return bp


def present(store: Store, result: dict[str, Any], expand: list[str] | str, version: str) -> dict[str, Any]:
    """Render a stored object (or list) for the caller's API version, with ``expand[]`` applied."""
    paths = [expand] if isinstance(expand, str) else list(expand)
    if result.get("object") == "list":
        out = dict(result, data=[store.render(item, version) for item in result["data"]])
    else:
        out = store.render(result, version)
    for path in paths:
        _expand(store, out, path.split("."), version, path)
    return out


def _expand(store: Store, node: Any, parts: list[str], version: str, path: str) -> None:
    if not parts or node is None or isinstance(node, str):
        return
    if isinstance(node, list):
        for item in node:
            _expand(store, item, parts, version, path)
        return
    head, rest = parts[0], parts[1:]
    if head == "line_items" and node.get("object") == "checkout.session":
        node["line_items"] = session_line_items(store, node["id"], {})
    elif node.get("object") == "invoice" and head in ("payments", "confirmation_secret") and head not in node:
        node[head] = billing.includable(store, node, head, version)  # fields basil shows only when expanded
    elif head not in node:
        raise invalid(f"This property cannot be expanded ({head}).", "expand")
    else:
        value = node[head]
        if isinstance(value, str):
            kind = store.kind_of(value)
            target = store.get(kind, value) if kind else None
            if target is not None:
                node[head] = store.render(target, version)
        elif head != "data" and not isinstance(value, (dict, list)) and value is not None:
            raise invalid(f"This property cannot be expanded ({head}).", "expand")
    _expand(store, node.get(head), rest, version, path)


def session_line_items(store: Store, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The list object of a session's line items."""
    items = store.state["line_items"].get(session_id, [])
    return paginate(items, params, f"/v1/checkout/sessions/{session_id}/line_items", newest_first=False)


def paginate(objects: list[dict[str, Any]], params: dict[str, Any], url: str, *, newest_first: bool = True) -> dict[str, Any]:
    """A page of ``objects`` (given oldest first) honouring ``limit``, ``starting_after`` and ``ending_before``."""
    try:
        limit = int(str(params.get("limit", 10)))
    except ValueError:
        raise invalid(f"Invalid integer: {params.get('limit')}", "limit") from None
    if not 1 <= limit <= 100:
        raise invalid("This value must be between 1 and 100 (it is currently " f"{limit}).", "limit")
    ordered = list(reversed(objects)) if newest_first else list(objects)
    ids = [o["id"] for o in ordered]
    if params.get("starting_after"):
        cursor = params["starting_after"]
        if cursor not in ids:
            raise invalid(f"No such object: '{cursor}'", "starting_after", "resource_missing", 404)
        start = ids.index(cursor) + 1
        page = ordered[start:start + limit]
        has_more = start + limit < len(ordered)
    elif params.get("ending_before"):
        cursor = params["ending_before"]
        if cursor not in ids:
            raise invalid(f"No such object: '{cursor}'", "ending_before", "resource_missing", 404)
        end = ids.index(cursor)
        page = ordered[max(0, end - limit):end]
        has_more = end - limit > 0
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    return list_object(page, url, has_more)


def created_filter(value: Any) -> Callable[[int], bool]:
    """A predicate for Stripe's ``created`` list filter (an int or ``{gt, gte, lt, lte}``)."""
    if value is None:
        return lambda _: True
    if not isinstance(value, dict):
        exact = int(str(value))
        return lambda ts: ts == exact
    bounds = {k: int(str(v)) for k, v in value.items()}
    return lambda ts: (ts > bounds.get("gt", ts - 1) and ts >= bounds.get("gte", ts)
                       and ts < bounds.get("lt", ts + 1) and ts <= bounds.get("lte", ts))
