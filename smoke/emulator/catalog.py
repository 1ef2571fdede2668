"""Customers, products and prices: what Checkout Sessions, subscriptions and invoices are made of."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smoke.emulator.errors import invalid, missing, no_such
from smoke.emulator.objects import build, customer_id, now
from smoke.events import new_id

if TYPE_CHECKING:
    from smoke.emulator.store import Store


def create_customer(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """A new customer and its ``customer.created`` event."""
    customer = build("customer", {
        "id": customer_id(), "email": params.get("email") or None, "name": params.get("name") or None,
        "phone": params.get("phone") or None, "description": params.get("description") or None,
        "metadata": {k: v for k, v in (params.get("metadata") or {}).items() if v != ""},
        "invoice_prefix": new_id("x", 9)[2:].upper(),
    })
    store.put(customer)
    store.emit("customer.created", customer)
    return customer


def create_product(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """A new product (``name`` required) and ``product.created``."""
    if not params.get("name"):
        raise missing("name")
    product = build("product", {"name": params["name"], "description": params.get("description") or None,
                                "metadata": dict(params.get("metadata") or {}), "updated": now(),
                                "active": str(params.get("active", "true")) != "false"}, prefix="prod")
    product["id"] = new_id("prod", 14)
    store.put(product)
    store.emit("product.created", product)
    return product


def create_price(store: Store, params: dict[str, Any], *, param: str = "") -> dict[str, Any]:
    """A new price for ``product`` or inline ``product_data``, and ``price.created``."""
    if not params.get("currency"):
        raise missing(f"{param}currency" if param else "currency")
    if "unit_amount" not in params:
        raise missing(f"{param}unit_amount" if param else "unit_amount")
    try:
        unit_amount = int(str(params["unit_amount"]))
    except ValueError:
        raise invalid(f"Invalid integer: {params['unit_amount']}", f"{param}unit_amount") from None
    if params.get("product"):
        product = store.get("product", params["product"])
        if product is None:
            raise no_such("product", params["product"], f"{param}product")
    elif isinstance(params.get("product_data"), dict):
        product = create_product(store, params["product_data"])
    else:
        raise missing(f"{param}product")
    recurring = None
    if isinstance(params.get("recurring"), dict):
        interval = params["recurring"].get("interval")
        if interval not in ("day", "week", "month", "year"):
            raise invalid("Invalid recurring[interval]: must be one of day, week, month, or year",
                          f"{param}recurring[interval]")
        recurring = {"interval": interval, "interval_count": int(params["recurring"].get("interval_count", 1)),
                     "meter": None, "trial_period_days": None, "usage_type": "licensed"}
    price = build("price", {
        "currency": str(params["currency"]).lower(), "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        "product": product["id"], "recurring": recurring, "type": "recurring" if recurring else "one_time",
        "metadata": dict(params.get("metadata") or {}), "nickname": params.get("nickname"),
        "lookup_key": params.get("lookup_key"),
    }, prefix="price")
    store.put(price)
    store.emit("price.created", price)
    return price


def item_price(store: Store, raw: Any, param: str, *, product_data: bool = True) -> dict[str, Any]:
    """The price a line or subscription item names: ``price``, or inline ``price_data`` (made here).

    Checkout's ``price_data`` may carry ``product_data``; a subscription item's must name a ``product``
    (``product_data=False``).
    """
    if not isinstance(raw, dict):
        raise invalid(f"Invalid {param}: must be an object", param)
    if raw.get("price"):
        price = store.get("price", raw["price"])
        if price is None:
            raise no_such("price", raw["price"], f"{param}[price]")
        return price
    if not isinstance(raw.get("price_data"), dict):
        raise invalid(f"You must specify either `price` or `price_data` in {param}.", param)
    if not product_data and not raw["price_data"].get("product"):
        raise missing(f"{param}[price_data][product]")
    return create_price(store, raw["price_data"], param=f"{param}[price_data][")
