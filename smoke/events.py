"""Realistic Stripe event envelopes, serialised the way Stripe sends them."""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from smoke._data import fixtures_dir
from smoke.errors import ConfigError

# The API version events are rendered in unless a profile says otherwise.
DEFAULT_API_VERSION = "2025-04-30.basil"
# PaymentIntents carried `charges` before this version and `latest_charge` from it on.
LATEST_CHARGE_SINCE = "2022-11-15"

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id such as ``evt_1Q…`` (random, never reused)."""
    return f"{prefix}_1" + "".join(secrets.choice(_ALPHABET) for _ in range(length - 1))


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
    email: str = "buyer@example.test"
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


@lru_cache(maxsize=None)
def _template(event_type: str) -> dict[str, Any]:
    path = fixtures_dir() / "events" / f"{event_type}.json"
    if not path.is_file():
        raise ConfigError(
            f"There is no event template for {event_type!r}; use one of: {', '.join(known_types())}."
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _shape_for_version(obj: dict[str, Any], api_version: str) -> None:
    """Older API versions carry ``charges`` on a PaymentIntent instead of ``latest_charge``."""
    if obj.get("object") != "payment_intent" or api_version[:10] >= LATEST_CHARGE_SINCE:
        return
    charge_id = obj.pop("latest_charge", None)
    charges = []
    if charge_id:
        charge = _fill(copy.deepcopy(_template("charge.succeeded")["object"]), _PaymentView(obj, charge_id))
        if obj.get("status") != "succeeded":
            charge.update(status="failed", paid=False, captured=False, amount_captured=0,
                          failure_code="card_declined", failure_message="Your card was declined.")
        charge["metadata"] = copy.deepcopy(obj.get("metadata", {}))
        charges.append(charge)
    obj["charges"] = {"object": "list", "data": charges, "has_more": False,
                      "total_count": len(charges), "url": f"/v1/charges?payment_intent={obj['id']}"}


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
    _shape_for_version(obj, api_version)
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
