"""Reference targets: small, correct billing APIs (and their deliberately faulty variants)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from smoke.servers import RunningServer


def embedded(name: str) -> Callable[..., RunningServer]:
    """The start function of the reference target a profile embeds (``[target] embedded = NAME``)."""
    if name not in _TARGETS:
        raise KeyError(name)
    module = importlib.import_module(f"smoke.reference.{_TARGETS[name]}")
    return module.start


def embedded_names() -> list[str]:
    """Names usable as ``[target] embedded``."""
    return sorted(_TARGETS)


# ``[target] embedded`` name → module in this package (imported only when started).
_TARGETS = {"topups": "topups", "credits": "credits", "invoices": "invoices", "subscriptions": "subscriptions", "ack-only": "ackonly"}


__all__: list[Any] = ["embedded", "embedded_names"]
