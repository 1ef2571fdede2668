"""Fill ``${source:key}`` placeholders (Stripe CLI fixture style) from chained step results."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from smoke.errors import ConfigError

# ${source:key} or ${source:key:-default}; the default may itself hold placeholders.
_PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_-]*):([^}:]+?)(?::-((?:[^{}]|\$\{[^}]*\})*))?\}", re.I)


class Missing(ConfigError):
    """A placeholder names a value that does not exist (yet); ``source``/``key`` say which, when known."""

    def __init__(self, message: str, source: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.source, self.key = source, key


def json_path(data: Any, path: str) -> Any:
    """Follow a dotted path such as ``account.balance_cents``, ``invoices.0.status`` or ``invoices[id=in_1].status``.

    A segment may end in filters: ``[key=value]`` picks the first item of a list whose ``key``
    equals ``value`` (compared as text), ``[n]`` picks by index; ``[a=1][b=x]`` picks the first
    item matching both.
    """
    current = data
    for part in _segments(path):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise Missing(f"{path!r} is not a valid path (at {part!r}); write e.g. invoices[id=in_1].status")
        key = match.group(1)
        if key:
            current = _step(current, key, path)
        conditions: list[tuple[str, str]] = []
        for found in _FILTER.finditer(match.group(2)):
            name, value = found.group(1), found.group(2)
            if value is not None:
                conditions.append((name, value))
                continue
            if conditions:
                current, conditions = _select(current, conditions, path), []
            current = _step(current, name.strip(), path)
        if conditions:
            current = _select(current, conditions, path)
    return current


# name[key=value][n]… : a key (possibly empty) followed by zero or more bracketed filters.
_SEGMENT = re.compile(r"([^\[\]]*)((?:\[[^\[\]]*\])*)")
_FILTER = re.compile(r"\[([^\[\]=]*)(?:=([^\[\]]*))?\]")


def _segments(path: str) -> list[str]:
    """Split on dots that are not inside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(path):
        depth += (char == "[") - (char == "]")
        if char == "." and depth == 0:
            parts.append(path[start:i])
            start = i + 1
    parts.append(path[start:])
    return parts


def _step(current: Any, part: str, path: str) -> Any:
    if isinstance(current, Mapping) and part in current:
        return current[part]
    if isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
        return current[int(part)]
    raise Missing(f"no value at {path!r} (stopped at {part!r})")


def _select(current: Any, conditions: list[tuple[str, str]], path: str) -> Any:
    wanted = " and ".join(f"{name} = {value!r}" for name, value in conditions)
    if not isinstance(current, list):
        raise Missing(f"no list to filter at {path!r} (looking for {wanted})")
    for item in current:
        if isinstance(item, Mapping) and all(name in item and _text(item[name]) == value for name, value in conditions):
            return item
    raise Missing(f"no item with {wanted} at {path!r} ({len(current)} item(s) in the list)")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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


def resolve_shown(value: Any, sources: Mapping[str, Any], why: Callable[[Missing], str] = str) -> Any:
    """Resolve like ``resolve`` for display: a placeholder that cannot be resolved becomes ``(unresolved: WHY)``."""
    if isinstance(value, dict):
        return {k: resolve_shown(v, sources, why) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve_shown(v, sources, why) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def shown(match: re.Match[str]) -> Any:
        try:
            return _lookup(match, sources)
        except Missing as exc:
            return f"(unresolved: {why(exc)})"

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return shown(whole)
    return _PLACEHOLDER.sub(lambda m: str(shown(m)), value)


def keys_of(value: Any, source: str) -> set[str]:
    """The keys ``value`` looks up in ``source`` (``keys_of("${var:amount}", "var") == {"amount"}``), defaults included."""
    if isinstance(value, dict):
        return set().union(*(keys_of(v, source) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(keys_of(v, source) for v in value)) if value else set()
    found: set[str] = set()
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            if match.group(1) == source:
                found.add(match.group(2))
            if match.group(3):
                found |= keys_of(match.group(3), source)
    return found


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
    except Missing as exc:
        if default is not None:
            return resolve(default, sources)
        if exc.source is None:
            exc.source, exc.key = source, key
        raise
