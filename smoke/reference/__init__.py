"""Reference targets: small, correct billing APIs (and their deliberately faulty variants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smoke.servers import RunningServer


def embedded(name: str) -> Callable[..., RunningServer]:
    """The start function of the reference target a profile embeds (``[target] embedded = NAME``)."""
    if name == "topups":
        from smoke.reference.topups import start

        return start
    raise KeyError(name)


def embedded_names() -> list[str]:
    """Names usable as ``[target] embedded``."""
    return ["topups"]


__all__: list[Any] = ["embedded", "embedded_names"]
