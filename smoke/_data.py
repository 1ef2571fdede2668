"""Locate the data shipped with the harness (event templates, profiles, Stripe objects)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def fixtures_dir() -> Path:
    """The fixtures folder: ``smoke/fixtures`` in a wheel, ``fixtures/`` in a checkout."""
    for candidate in (_HERE / "fixtures", _HERE.parent / "fixtures"):
        if (candidate / "events").is_dir():
            return candidate
    raise RuntimeError("stripe-smoke's fixtures are missing; reinstall the package")


@lru_cache(maxsize=1)
def _stripe_objects() -> dict[str, Any]:
    with open(fixtures_dir() / "stripe" / "objects.json", encoding="utf-8") as fh:
        return json.load(fh)["resources"]


def stripe_object(resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object for ``resource`` (e.g. ``"checkout.session"``)."""
    return copy.deepcopy(_stripe_objects()[resource])
