"""Burst: many distinct payments landing at once each credit once — no read-modify-write of the balance loses one.

Every other concurrency check sends copies of one event. Here N different payments (``--burst``, default 50) are
delivered together, at most ``IN_FLIGHT`` at a time, to one buyer and then spread over several buyers; the credit
state must rise by exactly N × the amount (each buyer by its share). A handler that reads the balance, adds, and
writes it back in separate steps loses credits exactly here.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from typing import Any

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.effects import Effect
from smoke.errors import TargetUnreachable
from smoke.events import Payment, build_event
from smoke.placeholders import keys_of, references
from smoke.reporting import LOAD_PROPERTY
from smoke.target import TargetClient, open_target
from smoke.verdicts import Inconclusive
from smoke.waiting import RateLimited, wait_for

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_needs("state", "simulated_credit")]

IN_FLIGHT = 10  # deliveries in flight at once: a busy moment, not a load test
SPREAD = 3  # buyers in the spread burst
SEQUENTIAL = 2  # distinct payments sent one at a time to tell a race from a handler that drops payments anyway


@dataclass
class Shot:
    """One delivery of the burst: whose payment it was, what came back (or why nothing did) and when it ended."""

    buyer: int
    sent: Sent | None = None
    missed: str = ""
    ended: float = 0.0

    @property
    def acknowledged(self) -> bool:
        """A 2xx answer."""
        return self.sent is not None and self.sent.delivery.ok

    @property
    def outcome(self) -> str:
        """``HTTP 500``, ``no answer within 15s``…: what a delivery that was not acknowledged got."""
        return f"HTTP {self.sent.delivery.status}" if self.sent is not None else self.missed


@dataclass
class Tally:
    """One buyer after the burst: payments sent, acknowledged, and credits the state shows."""

    share: int
    acked: int
    moved: float


@dataclass(frozen=True)
class Load:
    """The load the target held: deliveries per second, acknowledgement times and peak concurrency."""

    count: int
    seconds: float
    p50: float
    p95: float
    peak: int
    buyers: int

    @property
    def per_second(self) -> float:
        """Deliveries per second over the whole burst."""
        return self.count / self.seconds if self.seconds > 0 else float(self.count)

    def describe(self) -> str:
        """``50 distinct payments in 0.42 s = 119 deliveries/s, up to 10 in flight; acknowledged in p50 31 ms, p95 58 ms``."""
        to = f" to {self.buyers} buyers" if self.buyers > 1 else ""
        return (f"{self.count} distinct payments{to} in {self.seconds:.2f} s = {self.per_second:.0f} deliveries/s, "
                f"up to {self.peak} in flight; acknowledged in p50 {self.p50 * 1000:.0f} ms, p95 {self.p95 * 1000:.0f} ms")


@pytest.mark.smoke_depends_on("credit")
@pytest.mark.parametrize("buyers", [1, SPREAD], ids=["one_buyer", "three_buyers"])
def test_payment_burst_credits_every_payment(smoke: Smoke, buyers: int, request: pytest.FixtureRequest) -> None:
    """N distinct payments delivered at once credit N times (per buyer, its share): no credit vanishes under load."""
    count = smoke.settings.burst
    effect = smoke.effect()
    _skip_unless_burstable(smoke, effect, count)
    extra: list[TargetClient] = []
    try:
        for _ in range(min(buyers, count) - 1):
            extra.append(_another_buyer(smoke))
        clients = [smoke.target, *extra]
        if len(clients) > 1:
            _skip_unless_distinct(clients)
        baselines = [smoke.read() if client is smoke.target else _read(smoke, client) for client in clients]
        events = _events(smoke, clients, count)
        shots, load = _fire(smoke, events)
        held = [s.missed for s in shots if s.missed.startswith("held back")]
        if held:  # a 429 past the deadline kept payments from being sent: the burst proves nothing either way
            raise Inconclusive(f"Inconclusive: {len(held)} of {len(shots)} deliveries of the burst were {held[0]}, past "
                               "the deadline; raise --smoke-timeout, or declare the webhook's real limit "
                               "([target.rate_limits]).", "throttled")
        figure = load.describe()
        not_acked = Counter(s.outcome for s in shots if not s.acknowledged)
        if not_acked:
            figure += f"; not acknowledged: {_counted(not_acked)}"
        _record(request, load, figure)
        seen = _await(smoke, effect, clients, baselines, [len(e) for e in events])
    finally:
        for client in extra:
            _adopt(smoke.target, client)
            client.close()
    tallies = [Tally(len(events[i]), sum(s.acknowledged for s in shots if s.buyer == i), effect.moved(baselines[i], seen[i]))
               for i in range(len(clients))]
    if load.peak < 2 and all(t.moved == t.share == t.acked for t in tallies):
        paced = smoke.target.gate.spacing(smoke.target.profile.webhook_path)
        why = ("the rate limit spaces them further apart than the target takes to answer; raise --rate-limit"
               if paced else "the target answered each before the next one left")
        pytest.skip(f"the deliveries never overlapped ({figure}), so nothing concurrent was tested: {why}")
    probe = (lambda: _one_at_a_time(smoke)) if any(t.moved < t.acked for t in tallies) else None
    cause, message = judge_burst(tallies, delta=float(effect.delta or 0), state=smoke.target.profile.state_value,
                                 peak=load.peak, not_acked=not_acked, probe=probe)
    if cause:
        fail(message, cause)


# -- before the burst -----------------------------------------------------------------------------------------------
def _per_check_steps(smoke: Smoke) -> set[str]:
    return {step.name for step in smoke.target.profile.setup if step.per_check}


def _skip_unless_burstable(smoke: Smoke, effect: Effect, count: int) -> None:
    """Skip, saying why, when N payments cannot add up in the state or cannot be sent together."""
    profile = smoke.target.profile
    if not effect.numeric:
        pytest.skip(f"the credit state is a status ({effect.from_} → {effect.to}) that records one payment and cannot add "
                    "up many; a burst needs a numeric credit state ([effect] delta)")
    state = profile.state
    read_with = references([state.path, state.params, state.json, state.headers, profile.state_value]) if state else set()
    per_subject = sorted(read_with & _per_check_steps(smoke))
    if per_subject:
        pytest.skip(f"the credit state is read per subject ([state] uses ${{{per_subject[0]}:…}}, a per_check step), so "
                    "distinct payments cannot add up in one state")
    spacing = smoke.target.gate.spacing(profile.webhook_path)  # deliveries go to the webhook route
    if spacing and spacing * (count - 1) > smoke.settings.timeout:
        pytest.skip(f"the rate limit of {60 / spacing:g} requests a minute per route (--rate-limit or the profile's "
                    f"rate_limit_per_minute) would spread {count} deliveries over {spacing * (count - 1):.0f} s, which "
                    "is no burst; raise --rate-limit or lower --burst to run it")


def _another_buyer(smoke: Smoke) -> TargetClient:
    """A second client for the same target with a buyer of its own (a fresh run id), paced by the same gate."""
    main = smoke.target
    client = open_target(main.profile, main.base_url, webhook_secret=main.webhook_secret,
                         http_timeout=smoke.settings.http_timeout, redactor=main.redactor)
    client.gate = main.gate
    client.ensure_buyer()
    return client


def _identity(client: TargetClient, per_check: set[str]) -> str:
    """Whom the crediting event names as the buyer: [webhook.object] without the per-payment subjects, and the e-mail."""
    def keep(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: keep(v) for k, v in value.items() if not (isinstance(v, str) and references(v) & per_check)}
        return value

    return json.dumps([client.fill(keep(client.profile.credit_object), "[webhook].object"),
                       client.context.email], sort_keys=True, default=str)


def _skip_unless_distinct(clients: list[TargetClient]) -> None:
    """Skip the spread when every buyer the profile makes is the same account."""
    per_check = {step.name for step in clients[0].profile.setup if step.per_check}
    if len({_identity(client, per_check) for client in clients}) < len(clients):
        profile = clients[0].profile
        steps = [profile.buyer, *(step for step in profile.setup if not step.per_check)]
        named = keys_of([[s.path, s.json, s.form, s.params, s.headers, s.given] for s in steps if s is not None]
                        + [profile.credit_object], "var")
        fixed = sorted(var.env for name, var in profile.vars.items()
                       if name in named and var.env and os.environ.get(var.env))
        given = f" ({', '.join(fixed)} set)" if fixed else ""
        pytest.skip(f"the {profile.name} profile makes the same buyer every time{given}: the crediting event names one "
                    "account for each, so a burst cannot be spread over several buyers (the one_buyer burst still runs)")


def _adopt(main: TargetClient, other: TargetClient) -> None:
    """Add another buyer's exchanges to the check's evidence, numbered after the main client's."""
    for exchange in other.exchanges:
        main.exchange_seq += 1
        exchange.seq = main.exchange_seq
        main.exchanges.append(exchange)
    del main.exchanges[:-200]


def _read(smoke: Smoke, client: TargetClient) -> Any:
    outcome = wait_for(client.read_state, lambda _v: True, smoke.settings.timeout)
    if not outcome.ok:
        raise Inconclusive(f"Inconclusive: could not read a buyer's credit state within {smoke.settings.timeout:g}s: the "
                           f"target answered 429 {outcome.rate_limited}× and asked to wait past the deadline; raise "
                           "--smoke-timeout or lower --rate-limit.", "throttled")
    return outcome.value


def _events(smoke: Smoke, clients: list[TargetClient], count: int) -> list[list[dict[str, Any]]]:
    """Each buyer's share of ``count`` distinct crediting events (a fresh subject each, where the profile makes one)."""
    shares = [count // len(clients) + (i < count % len(clients)) for i in range(len(clients))]
    events: list[list[dict[str, Any]]] = []
    for client, share in zip(clients, shares, strict=True):
        mine = []
        for index in range(share):
            if index:
                client.begin_check()  # a per_check step (a pending payment, an invoice) runs again: one subject each
            payment = Payment(amount=smoke.amount, email=client.context.email or "buyer@example.com")
            mine.append(build_event(client.profile.credit_event, payment, client.credit_fields(),
                                    api_version=smoke.api_version))
        events.append(mine)
    return events


# -- the burst ------------------------------------------------------------------------------------------------------
def _fire(smoke: Smoke, events: list[list[dict[str, Any]]]) -> tuple[list[Shot], Load]:
    """Deliver every event, buyers interleaved, at most IN_FLIGHT at a time; what each got and the load held."""
    order = [(buyer, mine[i]) for i in range(max(map(len, events))) for buyer, mine in enumerate(events) if i < len(mine)]
    timeout = smoke.settings.http_timeout

    def deliver(buyer: int, event: dict[str, Any]) -> Shot:
        shot = Shot(buyer)
        try:
            shot.sent = smoke.send(event)
        except RateLimited as exc:
            shot.missed = f"held back: the target asked to wait {exc.retry_after:.0f}s (429)"
        except TargetUnreachable:
            shot.missed = f"no answer within {timeout:g}s"
        shot.ended = time.monotonic()
        return shot

    workers = min(IN_FLIGHT, len(order))
    spacing = smoke.target.gate.spacing(smoke.target.profile.webhook_path)
    budget = timeout * math.ceil(len(order) / workers) + spacing * len(order) + 5
    began = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smoke-burst")
    try:
        futures = [pool.submit(deliver, buyer, event) for buyer, event in order]
        done, _ = wait_all(futures, timeout=budget)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    ended = time.monotonic()
    shots = [f.result() if f in done else Shot(order[i][0], missed=f"no answer within {budget:.0f}s")
             for i, f in enumerate(futures)]
    return shots, _load(shots, ended - began, len(events))


def _load(shots: list[Shot], seconds: float, buyers: int) -> Load:
    times = sorted(s.sent.delivery.elapsed for s in shots if s.sent is not None)
    spans = [(s.ended - s.sent.delivery.elapsed, s.ended) for s in shots if s.sent is not None]
    return Load(len(shots), seconds, _percentile(times, 0.5), _percentile(times, 0.95), _peak(spans), buyers)


def _percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (0 when empty)."""
    return values[max(0, math.ceil(q * len(values)) - 1)] if values else 0.0


def _peak(spans: list[tuple[float, float]]) -> int:
    """The most (start, end) spans open at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def _record(request: pytest.FixtureRequest, load: Load, figure: str) -> None:
    """Print the load figure and carry it as JUnit properties, an Allure attachment and the summary's line."""
    from smoke.evidence import attach_note

    print(f"load held: {figure}")
    request.node.user_properties.extend([
        (LOAD_PROPERTY, figure), (f"{LOAD_PROPERTY}_per_second", f"{load.per_second:.1f}"),
        (f"{LOAD_PROPERTY}_p50_ms", f"{load.p50 * 1000:.1f}"), (f"{LOAD_PROPERTY}_p95_ms", f"{load.p95 * 1000:.1f}"),
        (f"{LOAD_PROPERTY}_peak_in_flight", str(load.peak)),
    ])
    attach_note(request.node, "load held", figure)


# -- after the burst ------------------------------------------------------------------------------------------------
def _await(smoke: Smoke, effect: Effect, clients: list[TargetClient], baselines: list[Any], shares: list[int]) -> list[Any]:
    """Wait until every buyer shows its share (or the deadline), then watch a moment for more; the states seen."""
    def read_all() -> list[Any]:
        return [client.read_state() for client in clients]

    def moved(values: list[Any]) -> list[float]:
        return [effect.moved(b, v) for b, v in zip(baselines, values, strict=True)]

    # Stop early only when more has landed than was paid in all (one buyer ahead may just be quicker than the rest).
    outcome = wait_for(read_all, lambda v: all(m >= s for m, s in zip(moved(v), shares, strict=True)),
                       smoke.settings.timeout, stop=lambda v: sum(moved(v)) > sum(shares))
    seen = outcome.value
    if outcome.ok and seen is not None:
        # Watch a moment for more: one reading of every buyer once the settle window has passed sees it.
        time.sleep(smoke.settle)
        steady = wait_for(read_all, lambda _v: True, smoke.settings.timeout)
        seen = steady.value
        if not steady.ok:
            outcome = steady
    if seen is None or outcome.cut_short:
        raise Inconclusive(f"Inconclusive: could not watch the credit state after the burst: the target answered 429 "
                           f"{outcome.rate_limited}× and asked to wait past the deadline; raise --smoke-timeout or lower "
                           "--rate-limit.", "throttled")
    return seen


def _one_at_a_time(smoke: Smoke) -> tuple[int, str]:
    """Send SEQUENTIAL distinct payments to the first buyer, each awaited; how many credited exactly, and what else."""
    credited, other = 0, ""
    for _ in range(SEQUENTIAL):
        smoke.target.begin_check()
        baseline = smoke.read()
        sent = smoke.send(smoke.crediting_event())
        credit = smoke.await_credit(baseline)
        if sent.delivery.ok and credit.code == "credited":
            credited += 1
        elif not other:
            other = (f"HTTP {sent.delivery.status}" if not sent.delivery.ok
                     else f"{smoke.effect().describe(baseline)} expected, saw {credit.seen}")
    return credited, other


def _counted(outcomes: Counter[str]) -> str:
    return ", ".join(f"{what} ×{n}" for what, n in outcomes.most_common())


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _credits(n: float) -> str:
    return f"{_num(n)} credit{'' if n == 1 else 's'}"


def judge_burst(tallies: list[Tally], *, delta: float, state: str = "", peak: int = 0, not_acked: Counter[str] | None = None,
                probe: Callable[[], tuple[int, str]] | None = None) -> tuple[str, str]:
    """The cause and message the burst's evidence supports (``("", "")`` when every payment credited once).

    ``tallies`` holds each buyer's payments, acknowledgements and credits seen; ``probe`` sends a few distinct payments
    one at a time and says how many credited, to tell a race (they all do) from a handler that drops payments anyway.
    """
    not_acked = not_acked or Counter()
    count, acked = sum(t.share for t in tallies), sum(t.acked for t in tallies)
    spread = len(tallies) > 1
    where = f" across {len(tallies)} buyers ({'/'.join(str(t.share) for t in tallies)}, up to {peak} in flight)" \
        if spread else f" (up to {peak} in flight)"
    lead = f"{count} distinct payments delivered at once{where}"
    heard = (f"{lead} were all acknowledged" if acked == count else
             f"{lead}: {acked} were acknowledged and {count - acked} got {_counted(not_acked)} (Stripe would retry those)")
    of = f" ({state})" if state else ""

    def rose(moved: list[float], expected: list[float], at_least: bool) -> str:
        """``the credit state rose by 37 × 500 = 18500 instead of 25000`` (one buyer) or ``… by 3/5/4 × 500 instead of 7/7/6 × 500``."""
        floor = "at least " if at_least else ""
        if not spread:
            return (f"the credit state{of} rose by {_num(moved[0])} × {_num(delta)} = {_num(moved[0] * delta)} instead of "
                    f"{floor}{_num(expected[0] * delta)}")
        return (f"the buyers' credit states{of} rose by {'/'.join(map(_num, moved))} × {_num(delta)} instead of {floor}"
                f"{'/'.join(map(_num, expected))} × {_num(delta)}")

    moved = [t.moved for t in tallies]
    shares = [float(t.share) for t in tallies]
    if any(not float(m).is_integer() for m in moved):
        return "wrong_amount", (f"{heard}, but {rose(moved, shares, False)}, which is not a whole number of payments "
                                f"of {_num(delta)}: the webhook credits the wrong amount under load.")
    over = [i for i, t in enumerate(tallies) if t.moved > t.share]
    short = [i for i, t in enumerate(tallies) if t.moved < t.acked]
    if over:  # more than was paid reached some buyers: misattributed when others are short by as much
        misattributed = bool(short) and sum(moved) <= count
        extra = sum(tallies[i].moved - tallies[i].share for i in over)
        why = ("some buyers got credits for other buyers' payments. Under concurrency the webhook credits a payment to the "
               "wrong account — it keeps the account it is crediting where concurrent requests share it (a module-level "
               "or thread-shared variable?); take it from each event's metadata." if misattributed else
               f"{_credits(extra)} more than was paid. Under concurrency the webhook credits some payments more than once "
               "(a retry inside the handler after a lock timeout, or a second path crediting the same payment?); each "
               "payment must credit exactly once.")
        cause = "burst_misattributed" if misattributed else "burst_overcredit"
        return cause, f"{heard}, but {rose(moved, shares, False)}: {why}"
    if short:
        vanished = sum(tallies[i].acked - tallies[i].moved for i in short)
        claim = f"{heard}, but {rose(moved, [float(t.acked) for t in tallies], acked < count)}: {_credits(vanished)} vanished"
        credited, other = probe() if probe is not None else (SEQUENTIAL, "")
        if credited < SEQUENTIAL:
            return "drops_distinct_payments", (
                f"{claim}, and of {SEQUENTIAL} more sent one at a time only {credited} credited ({other}): the webhook "
                "loses distinct payments to one buyer even without concurrency. Does it dedupe on something the payments "
                "share (the buyer, the amount, a metadata field) instead of the event id? Stripe will not retry an "
                "acknowledged event, so these payments are lost.")
        return "lost_update", (
            f"{claim}, while {SEQUENTIAL} more sent one at a time each credited — a read-modify-write of the balance "
            "without a lock or an atomic update (e.g. UPDATE … SET balance = balance + ?, or SELECT … FOR UPDATE in the "
            "credit's transaction): concurrent payments overwrite each other's credit, and Stripe will not retry an "
            "acknowledged event, so these credits are lost.")
    if acked < count:
        total = sum(moved)
        landed = (f"every payment credited anyway ({_credits(total)}), so nothing is lost if the retries are deduplicated"
                  if total == count else f"the {acked} acknowledged ones all credited ({_credits(total)} in all), so "
                  "nothing is lost as long as the retries succeed")
        return "burst_errors", (
            f"{heard}; {landed}, but the webhook fails under this load (a lock or connection-pool timeout?): make a busy "
            "moment wait rather than fail, and answer 2xx once the credit is committed.")
    return "", ""
