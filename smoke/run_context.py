"""What one run knows: its id, its redactor, the profile's variables and each step's result by name."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smoke.redact import Redactor

__all__ = ["RunContext"]

# Placeholder sources that are not step results: the run itself, the variables and the environment.
_RESERVED = ("run", "var", "env")


@dataclass
class RunContext:
    """The state a target client builds up in a run; placeholders resolve against ``sources()``."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    redactor: Redactor = field(default_factory=Redactor, repr=False)
    variables: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict, repr=False)

    def sources(self) -> dict[str, Any]:
        """Every placeholder source: ``run``, ``var`` and each step's result (``${buyer:token}``)."""
        return {**self.steps, "run": {"id": self.run_id}, "var": self.variables}

    def has(self, step: str) -> bool:
        """True once the step named ``step`` has a result."""
        return step in self.steps

    def result(self, step: str, default: Any = None) -> Any:
        """The result of the step named ``step`` (``default`` when it has none yet)."""
        return self.steps.get(step, default)

    def record(self, step: str, data: Any) -> None:
        """Keep ``data`` as the result of the step named ``step``."""
        self.steps[step] = data

    def forget(self, step: str) -> None:
        """Drop the result of ``step`` (a ``per_check`` step runs afresh for the next check)."""
        self.steps.pop(step, None)

    @property
    def email(self) -> str | None:
        """The buyer's e-mail address (the ``email`` variable), when the profile has one."""
        value = self.variables.get("email")
        return None if value is None else str(value)

    @property
    def amount(self) -> int | None:
        """The payment amount in minor units (the ``amount`` variable), when it is a whole number."""
        value = self.variables.get("amount")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def stored(self, names: Iterable[str], secret_vars: Iterable[str] = ()) -> dict[str, Any]:
        """The results of ``names`` (``var`` for the variables, secret ones left out) as a receipt keeps them."""
        hidden = set(secret_vars)
        kept: dict[str, Any] = {}
        for name in names:
            if name == "var":
                kept["var"] = {k: v for k, v in self.variables.items() if k not in hidden}
            elif name == "run":
                kept["run"] = {"id": self.run_id}
            elif name not in _RESERVED and name in self.steps:
                kept[name] = self.steps[name]
        return kept

    def restore(self, stored: dict[str, Any]) -> None:
        """Take back what ``stored`` kept; variables it lacks (the secret ones) keep their value from this run."""
        for name, value in stored.items():
            if name == "var":
                self.variables.update(value)
            elif name == "run" and isinstance(value, dict) and value.get("id"):
                self.run_id = str(value["id"])  # ${run:id} in the state's request names the run that created it
            elif name not in _RESERVED:
                self.steps[name] = value
