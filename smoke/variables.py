"""The profile's variables from the environment, and placeholders filled from what the run knows."""

from __future__ import annotations

import os
from typing import Any

from smoke.errors import ConfigError
from smoke.placeholders import Missing, keys_of, resolve
from smoke.profiles import Profile, check_variables
from smoke.run_context import RunContext

__all__ = ["fill", "resolve_variables"]


def resolve_variables(profile: Profile, context: RunContext) -> dict[str, Any]:
    """Each ``[vars]`` entry's value: its environment variable, else its default; secret ones join the redactor."""
    values: dict[str, Any] = {}
    for name, var in profile.vars.items():
        raw = os.environ.get(var.env, "") if var.env else ""
        if raw == "":
            value = resolve(var.default, {"run": {"id": context.run_id}, "var": values})
        elif isinstance(var.default, int) and not isinstance(var.default, bool):
            if not raw.strip().isdigit() or int(raw) <= 0:
                raise ConfigError(f"{var.env} must be a positive whole number (minor units, e.g. 500 for $5.00), not {raw!r}.")
            value = int(raw)
        else:
            value = raw
        if var.secret:
            context.redactor.add(value)
        values[name] = value
    return values


def fill(profile: Profile, context: RunContext, value: Any, where: str = "") -> Any:
    """Resolve placeholders against the run so far; a missing one is a ConfigError naming it."""
    unset = sorted(n for n in keys_of(value, "var") if n in profile.vars and context.variables.get(n) is None)
    if unset:  # never send None as a header or body value: name the variable and its env var instead
        check_variables(profile)
        env = profile.vars[unset[0]].env
        fix = f"set {env} (or give the variable a default in the profile)" if env else "give it a default in the profile"
        raise ConfigError(f"The profile variable {unset[0]!r} has no value: {fix}.")
    try:
        return resolve(value, context.sources())
    except Missing as exc:
        raise ConfigError(f"{profile.source}: {where or 'a value'} needs {exc}; run the step that provides it first "
                          "or fix the placeholder.") from None
