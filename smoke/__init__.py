"""stripe-smoke: prove that a billing API credits buyers correctly from Stripe payments.

The public API, for a check of your own (a ``test_*.py`` using the ``smoke`` fixture) or a profile's ``class``::

    from smoke import Smoke, fail

Each name is imported from its module on first use, so ``import smoke`` (and the pytest plugin, which every
pytest session of the environment loads) stays free of httpx, Flask and Stripe until a check needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module it lives in (imported on first access).
_EXPORTS = {
    # A check: the `smoke` fixture's helper, what it returns, and how a check ends.
    "Smoke": "smoke.checks",
    "Sent": "smoke.checks",
    "Credit": "smoke.checks",
    "fail": "smoke.checks",
    "conclude": "smoke.checks",
    "Finding": "smoke.verdicts",
    "Verdict": "smoke.verdicts",
    "Inconclusive": "smoke.verdicts",
    # Events and signatures, for a check that builds its own.
    "Payment": "smoke.events",
    "build_event": "smoke.events",
    "to_body": "smoke.events",
    "signature_header": "smoke.signing",
    "delivery_headers": "smoke.signing",
    "wait_for": "smoke.waiting",
    # A profile's `class = "package.module:MyTarget"`.
    "TargetClient": "smoke.target",
    "Delivery": "smoke.target",
    "Effect": "smoke.effects",
    "ConfigError": "smoke.errors",
}

__all__ = [
    "ConfigError",
    "Credit",
    "Delivery",
    "Effect",
    "Finding",
    "Inconclusive",
    "Payment",
    "Sent",
    "Smoke",
    "TargetClient",
    "Verdict",
    "__version__",
    "build_event",
    "conclude",
    "delivery_headers",
    "fail",
    "signature_header",
    "to_body",
    "wait_for",
]

if TYPE_CHECKING:
    from smoke.checks import Credit as Credit
    from smoke.checks import Sent as Sent
    from smoke.checks import Smoke as Smoke
    from smoke.checks import conclude as conclude
    from smoke.checks import fail as fail
    from smoke.effects import Effect as Effect
    from smoke.errors import ConfigError as ConfigError
    from smoke.events import Payment as Payment
    from smoke.events import build_event as build_event
    from smoke.events import to_body as to_body
    from smoke.signing import delivery_headers as delivery_headers
    from smoke.signing import signature_header as signature_header
    from smoke.target import Delivery as Delivery
    from smoke.target import TargetClient as TargetClient
    from smoke.verdicts import Finding as Finding
    from smoke.verdicts import Inconclusive as Inconclusive
    from smoke.verdicts import Verdict as Verdict
    from smoke.waiting import wait_for as wait_for


def __getattr__(name: str) -> Any:
    """A public name, from its module (imported on first use, so ``import smoke`` itself stays light)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smoke' has no attribute {name!r}")
    # Not cached here: the name is always the object of the module as loaded now.
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The module's names, the lazy public ones included."""
    return sorted(set(globals()) | set(__all__))
