"""What a credit does to the state: a numeric delta, or a change from one value to another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smoke.errors import ConfigError

__all__ = ["Effect"]


@dataclass(frozen=True)
class Effect:
    """The expected effect of one crediting payment on the credit state."""

    delta: float | None = None
    to: Any = None
    from_: Any = None
    # States a non-crediting event may lead to; None means any state but ``to`` (only reaching ``to`` is a credit).
    may_become: tuple[Any, ...] | None = None

    @property
    def numeric(self) -> bool:
        """True for a delta on a number."""
        return self.delta is not None

    def expected(self, baseline: Any) -> Any:
        """The state after exactly one credit."""
        return _number(baseline) + self.delta if self.delta is not None else self.to

    def reached(self, baseline: Any, value: Any) -> bool:
        """True once ``value`` shows exactly one credit from ``baseline``."""
        return self.moved(baseline, value) == 1 if self.numeric else value == self.to

    def moved(self, baseline: Any, value: Any) -> float:
        """How many credits separate ``value`` from ``baseline`` (numeric effects; may be fractional)."""
        if not self.numeric:
            return 1.0 if value == self.to and baseline != self.to else 0.0
        return (_number(value) - _number(baseline)) / self.delta if self.delta else 0.0

    def unwanted(self, baseline: Any, value: Any) -> bool:
        """True when ``value`` is a change a non-crediting event must not cause (a credit, or a state not allowed)."""
        if value is None or value == baseline:
            return False
        if self.numeric or value == self.to:
            return True
        return self.may_become is not None and value not in self.may_become

    def describe(self, baseline: Any) -> str:
        """A short phrase such as ``1200 → 1700 (+500)`` or ``open → paid``."""
        if self.numeric:
            return f"{_fmt(baseline)} → {_fmt(self.expected(baseline))} (+{_fmt(self.delta)})"
        return f"{baseline} → {self.to}"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"The credit state {value!r} is not a number; fix [state].value or use [effect] from/to.") from None
    return value


def _fmt(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
