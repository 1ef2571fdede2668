"""Robustness: bodies that are not JSON, or cut short, are refused with a 4xx, never a 5xx."""

from __future__ import annotations

import pytest

from smoke.checks import Smoke, fail
from smoke.events import to_body

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_depends_on("credit")]

BODIES = {
    "not_json": lambda body: b"this is not json",
    "truncated": lambda body: body[: len(body) // 2],
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_bad_body_is_refused_cleanly(smoke: Smoke, kind: str) -> None:
    """A correctly signed body that is not a complete JSON event gets a 4xx, not a server error."""
    body = BODIES[kind](to_body(smoke.crediting_event()))
    sent = smoke.send({"type": f"({kind} body)", "id": "-"}, body=body)
    if sent.delivery.status >= 500:
        fail(f"A signed {kind.replace('_', ' ')} body got HTTP {sent.delivery.status}: the webhook crashes on bad "
             "input; refuse it with a 4xx.", "crashes_on_bad_body")
    if sent.delivery.ok:
        fail(f"A signed {kind.replace('_', ' ')} body was acknowledged with HTTP {sent.delivery.status}: refuse "
             "bodies you cannot parse with a 4xx.", "acknowledges_bad_body")
