"""The building blocks of the checks: build and send events, and assert what the state does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from _pytest.outcomes import Failed

from smoke.config import Settings
from smoke.effects import Effect
from smoke.events import Payment, build_event, deep_merge, to_body
from smoke.redact import default_redactor
from smoke.signing import delivery_headers
from smoke.target import Delivery, Exchange, TargetClient
from smoke.verdicts import Finding, Inconclusive, Verdict, credit_mismatch, judge_credit
from smoke.waiting import Outcome, RateLimited, wait_for

if TYPE_CHECKING:
    from smoke.foundations import Foundations

__all__ = ["Credit", "Failure", "Sent", "Smoke", "conclude", "fail"]


class Failure(Failed):
    """A check's failure: one readable message, no traceback, and the short id of its cause."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(msg=default_redactor().redact(message), pytrace=False)
        self.cause = cause


def fail(message: str, cause: str = "") -> NoReturn:
    """Fail the check with one readable message (naming the one cause the evidence supports) and no traceback."""
    raise Failure(message, cause)


def conclude(finding: Finding) -> None:
    """End a check with a finding: return when it passed, else fail, or report it inconclusive."""
    if finding.verdict is Verdict.FAILED:
        fail(finding.message, finding.cause)
    if finding.verdict is Verdict.INCONCLUSIVE:
        raise Inconclusive(finding.message, finding.cause)


@dataclass
class Credit:
    """What the state did after a crediting event: ``credited``, ``credited_twice``, ``wrong_amount`` or None."""

    code: str | None
    seen: Any
    elapsed: float


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
    foundations: Foundations | None = None
    sent: list[Sent] = field(default_factory=list)
    # The sequence number of this check's first HTTP exchange (its evidence starts there).
    first_exchange: int = 0
    # The pytest item of the check (the shared quiet window asks the session which checks it will run).
    node: Any = None
    # Exchanges sent for other checks during this one (a shared window), and other checks' exchanges that are this
    # check's evidence (its event, sent in a shared window before the check ran).
    lent: set[int] = field(default_factory=set)
    borrowed: list[Exchange] = field(default_factory=list)

    def exchanges(self) -> list[Exchange]:
        """The HTTP exchanges of this check so far (redacted when read)."""
        own = [e for e in self.target.exchanges if e.seq >= self.first_exchange and e.seq not in self.lent]
        return sorted([*self.borrowed, *own], key=lambda e: e.seq)

    @property
    def observable(self) -> bool:
        """True when a simulated credit shows in a readable state (the profile has [state] and simulated_credit)."""
        return self.target.profile.can("state") and self.target.profile.can("simulated_credit")

    # -- events -----------------------------------------------------------------------
    @property
    def amount(self) -> int:
        """The payment amount in minor units (the profile's ``amount`` var, else its delta)."""
        amount = self.target.context.amount
        if amount is not None:
            return amount
        effect = self.target.effect() if self.target.profile.state else None
        return int(effect.delta) if effect is not None and effect.delta is not None else 500

    def payment(self) -> Payment:
        """Fresh, consistent ids for one payment by this buyer."""
        return Payment(amount=self.amount, email=self.target.context.email or "buyer@example.com")

    def event(self, event_type: str, payment: Payment | None = None, overrides: dict[str, Any] | None = None,
              *, api_version: str | None = None) -> dict[str, Any]:
        """An event of ``event_type`` carrying the profile's fields (all of them when it is the crediting kind of object)."""
        payment = payment or self.payment()
        fields = self.target.credit_fields()
        credit_resource = self.target.profile.credit_event.rsplit(".", 1)[0]
        if event_type.rsplit(".", 1)[0] != credit_resource:
            fields = {"metadata": fields["metadata"]} if "metadata" in fields else {}
        if overrides:
            fields = deep_merge(dict(fields), overrides)
        return build_event(event_type, payment, fields, api_version=api_version or self.api_version)

    @property
    def api_version(self) -> str:
        """The API version events are shaped for (--api-version, else the profile's)."""
        return self.settings.api_version or self.target.profile.api_version

    def crediting_event(self, payment: Payment | None = None, *, api_version: str | None = None) -> dict[str, Any]:
        """The event that should credit the buyer once."""
        return self.event(self.target.profile.credit_event, payment, api_version=api_version)

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

    @property
    def settle(self) -> float:
        """How long the state must stay put: --settle-seconds, or twice the slowest credit seen when that is longer."""
        floor = self.settings.settle
        return max(floor, min(2 * self.target.credit_latency, self.settings.timeout))

    def read(self) -> Any:
        """The credit state now (waiting out a 429 within the deadline; inconclusive when throttled past it).

        When the last check's final reading settled the state and nothing was sent since (within one settle window),
        that reading is the answer: the final read of one check is the baseline of the next."""
        known, value = self.target.settled_state(self.settle)
        if known:
            return value
        outcome = wait_for(self.target.read_state, lambda _v: True, self.settings.timeout)
        if not outcome.ok:
            raise Inconclusive(_throttled("read the credit state", outcome, self.settings.timeout), "throttled")
        return outcome.value

    def settled_read(self, since: float, what: str = "watch the credit state") -> Any:
        """Let the settle window that began at ``since`` (monotonic) pass, then read the state once."""
        rest = since + self.settle - time.monotonic()
        if rest > 0:
            time.sleep(rest)  # the window is the point: a credit that would land in it must have time to land
        outcome = wait_for(self.target.read_state, lambda _v: True, self.settings.timeout)
        if not outcome.ok:
            raise Inconclusive(_throttled(what, outcome, self.settings.timeout), "throttled")
        return outcome.value

    def await_credit(self, baseline: Any) -> Credit:
        """Wait for exactly one credit from ``baseline`` and stay a moment for a second; say what the state did."""
        effect = self.effect()
        if not effect.numeric and (baseline == effect.to or (effect.from_ is not None and baseline != effect.from_)):
            fail(f"The state was {baseline!r} before the payment, not {effect.from_!r}, so a change to {effect.to!r} "
                 "cannot be observed; the check needs a fresh subject each time (e.g. a [[setup]] step with "
                 "per_check = true that creates an open invoice).", "stale_subject")
        sent_at = time.monotonic()
        # Each answered read: when it left, and whether it was held back (the gate, or a 429 since the read before).
        reads: list[tuple[float, bool]] = []
        held = [False]

        def read() -> Any:
            try:
                value = self.target.read_state()
            except RateLimited:
                held[0] = True
                raise
            reads.append((self.target.last_sent_at, held[0] or self.target.last_gate_wait > 0.005))
            held[0] = False
            return value

        outcome = wait_for(read, lambda v: effect.reached(baseline, v), self.settings.timeout,
                           stop=lambda v: effect.numeric and effect.moved(baseline, v) > 1)
        if outcome.ok:
            self.target.note_credit_latency(_latency(sent_at, reads))
            # Stay a moment longer: a second credit may be just behind the first. One reading at the window's end sees it.
            after = self.settled_read(time.monotonic(), "watch the state after the credit")
            if after == outcome.value:
                self.target.note_settled(after)
                return Credit("credited", outcome.value, outcome.elapsed)
            outcome = Outcome(after, False, outcome.reads + 1, outcome.elapsed, outcome.rate_limited)
        code = judge_credit(effect, baseline, outcome.value)
        if code is None and outcome.cut_short:
            raise Inconclusive(_throttled("see the credit", outcome, self.settings.timeout), "throttled")
        return Credit(code, outcome.value, outcome.elapsed)

    def expect_credit(self, baseline: Any, sent: Sent, what: str = "", cause: str = "") -> float:
        """Wait until the state shows exactly one credit from ``baseline``; fail naming what went wrong."""
        credit = self.await_credit(baseline)
        if credit.code == "credited":
            return credit.elapsed
        effect = self.effect()
        label = what or sent.summary
        if credit.code is not None:
            fail(f"{label}: {credit_mismatch(credit.code, effect, baseline, credit.seen)}.", cause or credit.code)
        fail(f"{label}: the webhook answered {sent.delivery.status} but the credit state did not move "
             f"({effect.describe(baseline)} expected, still {credit.seen} after {self.settings.timeout:g}s). "
             "Stripe will not retry an acknowledged event, so this credit is lost.", cause or "not_credited")

    def changed(self, baseline: Any) -> Any:
        """Let the settle window pass and read the state once: the value a non-crediting event must not cause, else None."""
        effect = self.effect()
        after = self.settled_read(time.monotonic())
        if effect.unwanted(baseline, after):
            return after
        self.target.note_settled(after)
        return None

    def expect_unchanged(self, baseline: Any, what: str, cause: str = "") -> None:
        """Check that the state does not move (for a state change: does not reach ``to``) in the settle window."""
        seen = self.changed(baseline)
        if seen is not None:
            fail(f"{what}: the credit state moved from {baseline} to {seen}.", cause)


def _throttled(what: str, outcome: Outcome[Any], window: float) -> str:
    return (f"Inconclusive: could not {what} within {window:g}s: the target's rate limit held the harness back "
            f"{outcome.rate_limited}× (HTTP 429 with Retry-After, or RateLimit-Remaining: 0 until its reset) and asked "
            "to wait past the deadline. Nothing is known about the target; raise --smoke-timeout, or declare the "
            "target's real limits ([target.rate_limits] in the profile, or --rate-limit).")


def _latency(sent_at: float, reads: list[tuple[float, bool]]) -> float:
    """How long a credit took to show, from the reads that looked for it: when the read that saw it left, unless it was
    held back (then when the last read that did not see it left: the harness, not the target, was slow)."""
    if not reads:
        return 0.0
    left, held = reads[-1]
    if not held:
        return max(0.0, left - sent_at)
    return max(0.0, reads[-2][0] - sent_at) if len(reads) > 1 else 0.0


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return its result and the seconds it took."""
    begin = time.monotonic()
    result = fn()
    return result, time.monotonic() - begin
