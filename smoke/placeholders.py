"""Fill ``${source:key}`` placeholders (Stripe CLI fixture style) from chained step results."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from smoke.errors import ConfigError

# ${source:key} or ${source:key:-default}; the default may itself hold placeholders.
_PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_-]*):([^}:]+?)(?::-((?:[^{}]|\$\{[^}]*\})*))?\}", re.I)


class Missing(ConfigError):
    """A placeholder names a value that does not exist (yet)."""


def json_path(data: Any, path: str) -> Any:
    """Follow a dotted path such as ``account.balance_cents`` or ``invoices.0.status``."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            raise Missing(f"no value at {path!r} (stopped at {part!r})")
    return current


def resolve(value: Any, sources: Mapping[str, Any]) -> Any:
    """Resolve placeholders in strings, lists and tables; a string that is one placeholder keeps its type."""
    if isinstance(value, dict):
        return {k: resolve(v, sources) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, sources) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return _lookup(whole, sources)
    return _PLACEHOLDER.sub(lambda m: str(_lookup(m, sources)), value)


def references(value: Any) -> set[str]:
    """The sources (``buyer``, ``env``, …) that ``value`` refers to."""
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m.group(1) for m in _PLACEHOLDER.finditer(value)}
    return set()


def _lookup(match: re.Match[str], sources: Mapping[str, Any]) -> Any:
    source, key, default = match.group(1), match.group(2), match.group(3)
    try:
        if source == "env":
            if key in os.environ and os.environ[key] != "":
                return os.environ[key]
            raise Missing(f"environment variable {key} is not set")
        if source not in sources:
            raise Missing(f"${{{source}:…}} is not available here (known: {', '.join(sorted(sources)) or 'none'})")
        return json_path(sources[source], key)
    except Missing:
        if default is not None:
            return resolve(default, sources)
        raise
