"""One observation window for the checks that prove nothing moves: fire every such event, settle once, read once.

A check that proves an event changes nothing (a forgery, a failed payment…) needs a baseline, the event, a settle
window and a reading. One after another, N such checks cost N windows and about 2N state reads. Here the first of
them to run fires the events of all of them in the session (each check's own event, built and sent exactly as the
check sends it), waits one settle window and reads the state once: when nothing moved, every check has its answer.
When the state moved, the events are split in halves and each half is fired afresh (new event ids) in a window of
its own, down to single events, so the check whose event moves the state fails with the evidence a one-at-a-time run
gives it (its own baseline, event and reading), and the others pass.

Only where one reading can see every event: a numeric credit state of one buyer (no ``per_check`` subject), read
by the harness. Elsewhere each check observes alone, as before.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from _pytest.outcomes import OutcomeException

from smoke.checks import Sent, Smoke
from smoke.target import Exchange, TargetClient

__all__ = ["Fire", "Observation", "observe", "quiet_checks"]

# Sends one check's event (exactly as the check would) and returns it; None when that check would not send it.
Fire = Callable[[Smoke], "Sent | None"]

# check function name → (its parameter's name, the fire of each parameter value)
_REGISTRY: dict[str, tuple[str, dict[Any, Fire]]] = {}
# What sending or reading may raise for one check (a skip, a failure, throttling, an unreachable target).
_CAUGHT = (Exception, OutcomeException)


def quiet_checks(check: str, parameter: str, fires: Mapping[Any, Fire]) -> None:
    """Declare the events of a parametrized "nothing may change" check, so that one window observes them together."""
    _REGISTRY[check] = (parameter, dict(fires))


@dataclass
class Observation:
    """What one check's event did: the webhook's answer, and the state before and after a settle window."""

    sent: Sent
    baseline: Any
    _moved: Callable[[], Any] = field(repr=False)
    exchanges: list[Exchange] = field(default_factory=list, repr=False)

    def moved(self) -> Any:
        """The value the event must not have caused, or None when the state stayed put (Inconclusive when throttled)."""
        return self._moved()


@dataclass
class _Result:
    """One fire's outcome in the window that decided it."""

    sent: Sent | None = None
    error: BaseException | None = None
    baseline: Any = None
    moved: Any = None
    failure: BaseException | None = None  # the window's reading could not be made (throttled past the deadline)
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass
class _Window:
    """The session's quiet observations (one per target client, that is per session or xdist worker)."""

    results: dict[Fire, _Result] = field(default_factory=dict)
    consumed: set[Fire] = field(default_factory=set)
    windows: int = 0


_WINDOWS: weakref.WeakKeyDictionary[TargetClient, _Window] = weakref.WeakKeyDictionary()


def observe(smoke: Smoke, fire: Fire) -> Observation | None:
    """Send the check's event and watch the state for the settle window: together with the session's other such
    checks where one reading can see them all, else alone. None when ``fire`` sends nothing."""
    if not _groupable(smoke) or _key_of(fire) is None:
        return _alone(smoke, fire)
    window = _WINDOWS.setdefault(smoke.target, _Window())
    if fire not in window.results:
        if fire in window.consumed:  # the check runs again (a rerun): it observes alone
            return _alone(smoke, fire)
        fires = [f for f in _session_fires(smoke, fire) if f not in window.results and f not in window.consumed]
        first = smoke.target.exchange_seq + 1
        _decide(smoke, window, fires)
        # Sent during this check for every check of the window: its own evidence is its result's exchanges alone.
        smoke.lent.update(range(first, smoke.target.exchange_seq + 1))
    result = window.results.pop(fire)
    window.consumed.add(fire)
    if result.error is not None:
        raise result.error
    if result.sent is None:
        return None
    smoke.sent.append(result.sent)
    smoke.borrowed.extend(e for e in result.exchanges if e.seq < smoke.first_exchange or e.seq in smoke.lent)

    def moved() -> Any:
        if result.failure is not None:
            raise result.failure
        return result.moved

    return Observation(result.sent, result.baseline, moved, result.exchanges)


def _alone(smoke: Smoke, fire: Fire) -> Observation | None:
    """The check on its own: baseline, its event, then the settle window (watched only when asked, after the answer)."""
    baseline = smoke.read() if smoke.observable else None
    sent = fire(smoke)
    if sent is None:
        return None
    seen: list[Any] = []

    def moved() -> Any:
        if not smoke.observable:
            return None
        if not seen:
            seen.append(smoke.changed(baseline))
        return seen[0]

    return Observation(sent, baseline, moved)


def _groupable(smoke: Smoke) -> bool:
    """One reading sees every event: a numeric state of one buyer, no per-check subject, and a pytest item to ask."""
    profile = smoke.target.profile
    if smoke.node is None or not smoke.observable or any(step.per_check for step in profile.setup):
        return False
    return smoke.effect().numeric


def _key_of(fire: Fire) -> tuple[str, Any] | None:
    for check, (_, fires) in _REGISTRY.items():
        for value, known in fires.items():
            if known is fire:
                return check, value
    return None


def _session_fires(smoke: Smoke, own: Fire) -> list[Fire]:
    """The fires of every registered check this session will run and that can send now (in the session's order)."""
    found: list[Fire] = []
    for item in getattr(smoke.node.session, "items", []):
        entry = _REGISTRY.get(getattr(item, "originalname", ""))
        callspec = getattr(item, "callspec", None)
        if entry is None or callspec is None:
            continue
        parameter, fires = entry
        fire = fires.get(callspec.params.get(parameter))
        if fire is None or fire in found or (fire is not own and not _eligible(item, smoke)):
            continue
        found.append(fire)
    if own not in found:
        found.insert(0, own)
    return found


def _eligible(item: Any, smoke: Smoke) -> bool:
    """Whether the check of ``item`` will get past its fixture: not refused, not skipped for the profile, not blocked."""
    profile, settings = smoke.target.profile, smoke.settings
    if "smoke" not in getattr(item, "fixturenames", ()):
        return False
    if item.get_closest_marker("smoke_simulated") and (profile.production or settings.production) \
            and not settings.allow_production:
        return False
    if any(not profile.can(c) for marker in item.iter_markers("smoke_needs") for c in marker.args):
        return False
    foundations = smoke.foundations
    needed = [name for marker in item.iter_markers("smoke_depends_on") for name in marker.args]
    return not needed or (foundations is not None and all(foundations.held(name) for name in needed))


def _decide(smoke: Smoke, window: _Window, fires: list[Fire]) -> None:
    """Observe ``fires`` together; where the state moved, halve and observe each half afresh, down to single events."""
    pending = [fires]
    while pending:
        group = pending.pop(0)
        results, moved = _one_window(smoke, window, group)
        if moved and len(group) > 1:
            middle = (len(group) + 1) // 2
            pending[:0] = [group[:middle], group[middle:]]
            continue
        for fire, result in results.items():
            if not moved:
                result.moved = None
            window.results[fire] = result


def _one_window(smoke: Smoke, window: _Window, group: list[Fire]) -> tuple[dict[Fire, _Result], bool]:
    """Baseline, every event of ``group``, one settle window, one reading; each fire's result and whether it moved."""
    target = smoke.target
    helper = Smoke(target, smoke.settings, smoke.foundations)
    window.windows += 1
    results: dict[Fire, _Result] = {fire: _Result() for fire in group}
    first = target.exchange_seq + 1
    try:
        baseline = smoke.read()
    except _CAUGHT as exc:  # throttled before anything was sent: each check of the window reports it, as alone
        for result in results.values():
            result.error = exc
        return results, False
    reads = [e for e in target.exchanges if e.seq >= first]
    last = time.monotonic()
    for fire in group:
        mark = target.exchange_seq + 1
        try:
            results[fire].sent = fire(helper)
        except _CAUGHT as exc:  # raised again in the check it belongs to, as if it had sent the event itself
            results[fire].error = exc
        results[fire].exchanges = [e for e in target.exchanges if e.seq >= mark]
        last = time.monotonic()
    sent = [r for r in results.values() if r.sent is not None]
    if not sent:
        return results, False
    mark = target.exchange_seq + 1
    try:
        after = smoke.settled_read(last, "watch the credit state")
    except _CAUGHT as exc:  # throttled past the deadline: each check reports it after judging its answer, as alone
        for result in sent:
            result.baseline, result.failure = baseline, exc
        return results, False
    reads += [e for e in target.exchanges if e.seq >= mark]
    effect = smoke.effect()
    moved = bool(effect.unwanted(baseline, after))
    for result in sent:
        result.baseline = baseline
        result.moved = after if moved else None
        result.exchanges = sorted([*reads, *result.exchanges], key=lambda e: e.seq)
    if not moved:
        target.note_settled(after)
    return results, moved
