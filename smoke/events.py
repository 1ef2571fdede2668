"""Realistic Stripe event envelopes, serialised the way Stripe sends them."""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from smoke._data import fixtures_dir
from smoke.errors import ConfigError

__all__ = ["CHECKOUT_PAYMENT_SEQUENCE", "DEFAULT_API_VERSION", "LATEST_CHARGE_SINCE", "Payment", "ShapeChange", "build_event",
           "contrasting_versions", "deep_merge", "envelope", "known_types", "new_id", "payment_sequence", "shape_changes_for",
           "to_body"]

# The API version events are rendered in unless a profile says otherwise.
DEFAULT_API_VERSION = "2025-04-30.basil"
# PaymentIntents carried `charges` before this version and `latest_charge` from it on.
LATEST_CHARGE_SINCE = "2022-11-15"

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id such as ``evt_1Q…`` (random, never reused)."""
    # One read of the system's randomness per id (a choice per character cost a run ~0.1 s); the slight bias of the
    # modulo is harmless in an id that only has to be unique.
    return f"{prefix}_1" + "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(length - 1))


def envelope(
    event_type: str,
    obj: dict[str, Any],
    *,
    api_version: str = DEFAULT_API_VERSION,
    event_id: str | None = None,
    created: int | None = None,
    livemode: bool = False,
    pending_webhooks: int = 1,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Wrap ``obj`` in an event envelope with Stripe's fields in Stripe's order."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def to_body(event: dict[str, Any]) -> bytes:
    """Serialise as Stripe delivers: pretty-printed JSON, two-space indent, UTF-8."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


@dataclass
class Payment:
    """The ids and amounts shared by every object and event of one payment."""

    amount: int
    currency: str = "usd"
    email: str = "buyer@example.com"
    session: str = field(default_factory=lambda: "cs_test_" + new_id("a", 58)[2:])
    payment_intent: str = field(default_factory=lambda: new_id("pi"))
    charge: str = field(default_factory=lambda: new_id("ch"))
    customer: str = field(default_factory=lambda: new_id("cus", 14))
    payment_method: str = field(default_factory=lambda: new_id("pm"))
    balance_transaction: str = field(default_factory=lambda: new_id("txn"))
    invoice: str = field(default_factory=lambda: new_id("in"))
    subscription: str = field(default_factory=lambda: new_id("sub"))
    refund: str = field(default_factory=lambda: new_id("re"))
    created: int = field(default_factory=lambda: int(time.time()))
    refund_balance_transaction: str = field(default_factory=lambda: new_id("txn"))

    @property
    def expires_at(self) -> int:
        """When a Checkout Session for this payment would expire (24 h after creation)."""
        return self.created + 86400


_PAYMENT_REF = re.compile(r"\$\{payment:([a-z_]+)\}")


def _fill(value: Any, payment: Payment) -> Any:
    """Replace ``${payment:…}`` references, keeping ints as ints when the whole string is one."""
    if isinstance(value, dict):
        return {k: _fill(v, payment) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, payment) for v in value]
    if isinstance(value, str) and "${payment:" in value:
        whole = _PAYMENT_REF.fullmatch(value)
        if whole:
            return getattr(payment, whole.group(1))
        return _PAYMENT_REF.sub(lambda m: str(getattr(payment, m.group(1))), value)
    return value


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into ``base`` in place (nested dicts merge, everything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def known_types() -> list[str]:
    """The event types the harness has templates for."""
    return sorted(p.name[: -len(".json")] for p in (fixtures_dir() / "events").glob("*.json"))


@cache
def _template(event_type: str) -> dict[str, Any]:
    path = fixtures_dir() / "events" / f"{event_type}.json"
    if not path.is_file():
        raise ConfigError(
            f"There is no event template for {event_type!r}; use one of: {', '.join(known_types())}."
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class ShapeChange:
    """A change Stripe made to an object's shape in an API version: handlers written for one side misread the other."""

    since: str  # the API version that introduced the change, e.g. "2022-11-15"
    resource: str  # the object type it affects: "payment_intent", "charge", "checkout.session"
    before: str  # the field a handler written for older versions reads, e.g. "charges.data[0]"
    after: str  # what replaced it, e.g. "latest_charge" ("" when it was simply removed)
    change: str  # one sentence on what Stripe changed
    fix: str  # one sentence: how a handler should read it instead

    def predates(self, api_version: str) -> bool:
        """Whether ``api_version`` is older than this change (its events carry the old shape)."""
        return api_version[:10] < self.since


SHAPE_CHANGES: tuple[ShapeChange, ...] = (
    ShapeChange(
        LATEST_CHARGE_SINCE, "payment_intent", "charges.data[0]", "latest_charge",
        "PaymentIntents no longer carry the `charges` list; `latest_charge` holds the id of the latest charge",
        "read `latest_charge` (retrieve that charge, or expand it) instead of `charges.data[0]`"),
    ShapeChange(
        LATEST_CHARGE_SINCE, "charge", "refunds.data", "",
        "Charges no longer include their `refunds` list, so charge.refunded events carry no `refunds.data`",
        "use the charge's `amount_refunded`, or list the charge's refunds (or listen to refund.* events)"),
    ShapeChange(
        "2020-08-27", "checkout.session", "display_items", "",
        "Checkout Sessions no longer carry `display_items`; line items come only through the includable `line_items`",
        "read `amount_total`, or retrieve the session with `expand[]=line_items`"),
)

# Real Stripe versions, one on each side of every change, used to replay an event in the other shape.
REPRESENTATIVE_VERSIONS = (DEFAULT_API_VERSION, "2022-08-01", "2020-03-02")


def _insert_sorted(obj: dict[str, Any], key: str, value: Any) -> None:
    """Set ``obj[key]`` where Stripe's alphabetical field order puts it (before the first key that sorts after it)."""
    obj.pop(key, None)
    keys = list(obj)
    at = next((i for i, k in enumerate(keys) if k > key), len(keys))
    tail = {k: obj.pop(k) for k in keys[at:]}
    obj[key] = value
    obj.update(tail)


def _older_payment_intent(intent: dict[str, Any], api_version: str, payment: Payment | None) -> None:
    """Before 2022-11-15: the intent lists its charges (``charges``) instead of naming ``latest_charge``."""
    charge_id = intent.pop("latest_charge", None)
    charges = []
    if charge_id:
        view = _PaymentView(intent, charge_id)
        charge = _fill(copy.deepcopy(_template("charge.succeeded")["object"]), view)
        if intent.get("status") != "succeeded":
            charge.update(status="failed", paid=False, captured=False, amount_captured=0,
                          failure_code="card_declined", failure_message="Your card was declined.")
        charge["metadata"] = copy.deepcopy(intent.get("metadata", {}))
        _shape_for_version(charge, api_version, view)
        charges.append(charge)
    url = f"/v1/charges?payment_intent={intent['id']}"
    _insert_sorted(intent, "charges", {"object": "list", "data": charges, "has_more": False,
                                       "total_count": len(charges), "url": url})


def _older_charge(charge: dict[str, Any], api_version: str, payment: Payment | None) -> None:
    """Before 2022-11-15: the charge includes its ``refunds`` list (one refund when something was refunded)."""
    refunds = [_refund(charge, payment)] if charge.get("amount_refunded") else []
    _insert_sorted(charge, "refunds", {"object": "list", "data": refunds, "has_more": False,
                                       "total_count": len(refunds), "url": f"/v1/charges/{charge['id']}/refunds"})


def _refund(charge: dict[str, Any], payment: Payment | None) -> dict[str, Any]:
    """The refund of ``charge``'s ``amount_refunded``, with the payment's refund id."""
    refund = _fill(copy.deepcopy(_template("refund.created")["object"]), payment or Payment(amount=0))
    refund.update(amount=charge["amount_refunded"], charge=charge["id"], currency=charge.get("currency"),
                  payment_intent=charge.get("payment_intent"))
    return refund


def _older_checkout_session(session: dict[str, Any], api_version: str, payment: Payment | None) -> None:
    """Before 2020-08-27: the session shows what was bought as ``display_items`` (one custom item)."""
    subtotal, total = session.get("amount_subtotal"), session.get("amount_total")
    amount = subtotal if isinstance(subtotal, int) else total
    items = [] if not isinstance(amount, int) else [
        {"amount": amount, "currency": session.get("currency"),
         "custom": {"description": None, "images": None, "name": "Account top-up"}, "quantity": 1, "type": "custom"}]
    _insert_sorted(session, "display_items", items)


# How each change's old shape is made, by (resource, since); on/after a change its old field is simply absent.
_OLDER_SHAPE: dict[tuple[str, str], Callable[[dict[str, Any], str, Payment | None], None]] = {
    ("payment_intent", LATEST_CHARGE_SINCE): _older_payment_intent,
    ("charge", LATEST_CHARGE_SINCE): _older_charge,
    ("checkout.session", "2020-08-27"): _older_checkout_session,
}


def _shape_for_version(obj: dict[str, Any], api_version: str, payment: Payment | None = None) -> None:
    """Shape ``obj`` (and what it nests) for ``api_version``: the old field before each change, never after it."""
    for change in SHAPE_CHANGES:
        if obj.get("object") != change.resource:
            continue
        if change.predates(api_version):
            _OLDER_SHAPE[(change.resource, change.since)](obj, api_version, payment)
        else:
            obj.pop(change.before.split(".")[0], None)


def _discounted(obj: dict[str, Any], fields: dict[str, Any]) -> None:
    """Give a paid-for Checkout Session a discount, as Stripe shows one, unless the profile sets the subtotal itself.

    ``amount_subtotal`` then exceeds ``amount_total`` by ``total_details.amount_discount``, so a handler that credits
    the subtotal instead of the total is caught crediting the wrong amount.
    """
    total = obj.get("amount_total")
    if (obj.get("object") != "checkout.session" or "amount_subtotal" in fields or "total_details" in fields
            or not isinstance(total, int) or isinstance(total, bool)):
        return
    if total <= 0:
        obj["amount_subtotal"] = total  # nothing to discount; keep the subtotal in step with the profile's total
        return
    discount = max(1, total // 5)
    obj["amount_subtotal"] = total + discount
    obj["total_details"] = {"amount_discount": discount, "amount_shipping": 0, "amount_tax": 0}
    if "discounts" not in fields:
        obj["discounts"] = [{"coupon": "smoke_discount", "promotion_code": None}]


def _object_types(value: Any) -> set[str]:
    """Every ``object`` type found in ``value`` and the objects nested in it."""
    if isinstance(value, list):
        return set().union(*map(_object_types, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = {value["object"]} if isinstance(value.get("object"), str) else set()
    return found.union(*map(_object_types, value.values()))


def shape_changes_for(event_type: str, api_version: str) -> list[ShapeChange]:
    """The shape changes affecting this event's object (and objects it nests at api_version), on either side of them."""
    obj = build_event(event_type, Payment(amount=100), api_version=api_version)["data"]["object"]
    present = _object_types(obj)
    return sorted((c for c in SHAPE_CHANGES if c.resource in present), key=lambda c: c.resource != obj["object"])


def _day(api_version: str) -> int:
    """The day an API version was released, as an ordinal (0 when it is not a dated version)."""
    try:
        return date.fromisoformat(api_version[:10]).toordinal()
    except ValueError:
        return 0


def contrasting_versions(event_type: str, api_version: str) -> list[tuple[str, ShapeChange]]:
    """For each shape change affecting this event's object, one real API version on the other side of it, nearest first.

    The old side is the representative version just before the change, the new side the current default, so a
    replay at it tells which shape the handler was written for. Each version appears once (with its first change).
    """
    pairs: list[tuple[str, ShapeChange]] = []
    for change in shape_changes_for(event_type, api_version):
        if change.predates(api_version):
            version = DEFAULT_API_VERSION
        else:
            version = max((v for v in REPRESENTATIVE_VERSIONS if change.predates(v)), key=_day)
        if version not in (v for v, _ in pairs):
            pairs.append((version, change))
    return sorted(pairs, key=lambda pair: abs(_day(pair[0]) - _day(api_version)))


class _PaymentView(Payment):
    """A Payment whose ids come from an already-built PaymentIntent (for nested charges)."""

    def __init__(self, intent: dict[str, Any], charge_id: str) -> None:
        super().__init__(amount=intent["amount"], currency=intent["currency"],
                         payment_intent=intent["id"], charge=charge_id,
                         customer=intent.get("customer") or "", created=intent["created"],
                         payment_method=intent.get("payment_method") or "")


def build_event(
    event_type: str,
    payment: Payment,
    fields: dict[str, Any] | None = None,
    *,
    api_version: str = DEFAULT_API_VERSION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A complete event of ``event_type`` for ``payment``, with ``fields`` merged into ``data.object``."""
    template = _template(event_type)
    obj = _fill(copy.deepcopy(template["object"]), payment)
    if fields:
        deep_merge(obj, fields)
    _discounted(obj, fields or {})
    _shape_for_version(obj, api_version, payment)
    previous = template.get("previous_attributes")
    return envelope(
        event_type, obj, api_version=api_version, event_id=event_id, created=payment.created,
        previous_attributes=_fill(copy.deepcopy(previous), payment) if previous is not None else None,
    )


# What Stripe sends for one card payment through Checkout (mode "payment").
CHECKOUT_PAYMENT_SEQUENCE = (
    "customer.created",
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "charge.updated",
    "checkout.session.completed",
)


def payment_sequence(
    payment: Payment,
    fields_by_type: dict[str, dict[str, Any]],
    *,
    api_version: str = DEFAULT_API_VERSION,
    types: tuple[str, ...] = CHECKOUT_PAYMENT_SEQUENCE,
) -> list[dict[str, Any]]:
    """Every event of one Checkout payment, ids consistent across them, in Stripe's order."""
    return [build_event(t, payment, fields_by_type.get(t), api_version=api_version) for t in types]
