"""Stripe's form encoding: ``a[b][0][c]=v`` pairs into nested dicts and lists (and back)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _parts(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all indexes (``0``, ``1``… or ``[]``) into lists, recursively."""
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(isinstance(k, int) for k in node):
        return [node[k] for k in sorted(node)]
    return node


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parse form pairs into nested data; ``x[]`` appends, ``x[0]`` indexes, ``x[k]`` nests."""
    root: dict[Any, Any] = {}
    append_counters: dict[int, int] = {}
    for key, value in pairs:
        parts = _parts(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                counter = append_counters.get(id(node), 0)
                append_counters[id(node)] = counter + 1
                part_key: Any = counter
            elif part.isdigit() and i > 0:
                part_key = int(part)
            else:
                part_key = part
            if last:
                node[part_key] = value
            else:
                child = node.get(part_key)
                if not isinstance(child, dict):
                    child = {}
                    node[part_key] = child
                node = child
    return _listify(root)


def encode_form(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The inverse of :func:`parse_form` (indexed lists), for tests and clients."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += encode_form(value, name)
        elif isinstance(value, list):
            pairs += encode_form({str(i): v for i, v in enumerate(value)}, name)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def to_query(data: dict[str, Any]) -> str:
    """URL-encode ``data`` in Stripe's style."""
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in encode_form(data))
