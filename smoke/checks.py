"""The building blocks of the checks: build and send events, and assert what the state does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from smoke.config import Settings
from smoke.effects import Effect
from smoke.events import Payment, build_event, deep_merge, to_body
from smoke.signing import delivery_headers
from smoke.target import Delivery, TargetClient
from smoke.waiting import hold_steady, wait_for


def fail(message: str) -> None:
    """Fail the check with one readable message and no traceback."""
    pytest.fail(message, pytrace=False)


@dataclass
class Sent:
    """An event as sent: its id, type, exact body and what the webhook answered."""

    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    delivery: Delivery

    @property
    def summary(self) -> str:
        """``checkout.session.completed evt_… → 200 in 12 ms``."""
        return (f"{self.event.get('type')} {self.event.get('id')} → HTTP {self.delivery.status} "
                f"in {self.delivery.elapsed * 1000:.0f} ms")


@dataclass
class Smoke:
    """What a check works with: the target, the settings, and event helpers bound to them."""

    target: TargetClient
    settings: Settings
    sent: list[Sent] = field(default_factory=list)

    # -- events -----------------------------------------------------------------------
    @property
    def amount(self) -> int:
        """The payment amount in minor units (the profile's ``amount`` var, else its delta)."""
        variables = self.target.results.get("var", {})
        if isinstance(variables.get("amount"), int):
            return variables["amount"]
        effect = self.target.effect() if self.target.profile.state else None
        return int(effect.delta) if effect is not None and effect.numeric else 500

    def payment(self) -> Payment:
        """Fresh, consistent ids for one payment by this buyer."""
        return Payment(amount=self.amount, email=str(self.target.results.get("var", {}).get("email", "buyer@example.test")))

    def event(self, event_type: str, payment: Payment | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """An event of ``event_type`` carrying the profile's fields (all of them when it is the crediting kind of object)."""
        payment = payment or self.payment()
        fields = self.target.credit_fields()
        credit_resource = self.target.profile.credit_event.rsplit(".", 1)[0]
        if event_type.rsplit(".", 1)[0] != credit_resource:
            fields = {"metadata": fields["metadata"]} if "metadata" in fields else {}
        if overrides:
            fields = deep_merge(dict(fields), overrides)
        return build_event(event_type, payment, fields, api_version=self.target.profile.api_version)

    def crediting_event(self, payment: Payment | None = None) -> dict[str, Any]:
        """The event that should credit the buyer once."""
        return self.event(self.target.profile.credit_event, payment)

    def send(
        self,
        event: dict[str, Any],
        *,
        body: bytes | None = None,
        secrets: list[str] | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        signed_body: bytes | None = None,
        content_type: str | None = None,
        with_v0: bool = True,
    ) -> Sent:
        """Sign and deliver ``event`` as Stripe does; the keyword arguments bend one thing at a time."""
        raw = to_body(event) if body is None else body
        headers = delivery_headers(
            signed_body if signed_body is not None else raw,
            secrets if secrets is not None else [self.target.webhook_secret or ""],
            timestamp=timestamp, content_type=content_type or self.target.profile.content_type,
            with_v0=with_v0, signature=signature,
        )
        if signature == "":
            headers.pop("Stripe-Signature", None)
        sent = Sent(event, raw, headers, self.target.deliver(raw, headers))
        self.sent.append(sent)
        return sent

    # -- state ----------------------------------------------------------------------
    def effect(self) -> Effect:
        """The expected effect of one credit."""
        return self.target.effect()

    def read(self) -> Any:
        """The credit state now (waiting out a 429 within the deadline)."""
        outcome = wait_for(self.target.read_state, lambda _v: True, self.settings.timeout)
        if not outcome.ok:
            fail(f"Could not read the credit state within {self.settings.timeout:g}s (rate limited {outcome.rate_limited}×); raise --smoke-timeout or --rate-limit.")
        return outcome.value

    def expect_credit(self, baseline: Any, sent: Sent, what: str = "") -> float:
        """Wait until the state shows exactly one credit from ``baseline``; fail naming what went wrong."""
        effect = self.effect()
        if not effect.numeric and (baseline == effect.to or (effect.from_ is not None and baseline != effect.from_)):
            fail(f"{what or sent.summary}: the state was {baseline!r} before the payment, not {effect.from_!r}, so "
                 f"a change to {effect.to!r} cannot be observed; the check needs a fresh subject each time (e.g. a "
                 "[[setup]] step with per_check = true that creates an open invoice).")
        outcome = wait_for(self.target.read_state, lambda v: effect.reached(baseline, v), self.settings.timeout,
                           stop=lambda v: effect.numeric and effect.moved(baseline, v) > 1)
        if outcome.ok:
            # Stay a moment longer: a second credit may be just behind the first.
            steady = hold_steady(self.target.read_state, outcome.value, self.settings.settle)
            if steady.ok:
                return outcome.elapsed
            outcome = steady
        seen = outcome.value
        label = what or sent.summary
        if effect.numeric and seen is not None and effect.moved(baseline, seen) != 0:
            moved = effect.moved(baseline, seen)
            if moved > 1 and float(moved).is_integer():
                fail(f"{label}: credited {int(moved)} times ({effect.describe(baseline)} expected, saw {seen}).")
            fail(f"{label}: credited the wrong amount: expected {effect.describe(baseline)}, saw {seen} "
                 f"(+{_fmt(float(seen) - float(baseline))}).")
        fail(f"{label}: the webhook answered {sent.delivery.status} but the credit state did not move "
             f"({effect.describe(baseline)} expected, still {seen} after {self.settings.timeout:g}s). "
             "Stripe will not retry an acknowledged event, so this credit is lost.")
        return 0.0

    def expect_unchanged(self, baseline: Any, what: str) -> None:
        """Check that the state stays at ``baseline`` for the settle window."""
        steady = hold_steady(self.target.read_state, baseline, self.settings.settle)
        if not steady.ok:
            fail(f"{what}: the credit state moved from {baseline} to {steady.value}.")


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return its result and the seconds it took."""
    begin = time.monotonic()
    result = fn()
    return result, time.monotonic() - begin
