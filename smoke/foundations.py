"""Foundations: the few properties the other checks stand on, probed once per session, gating their dependents.

``route`` (the webhook route exists) → ``credit`` (a correctly signed crediting event is accepted and, where the
state is readable, credits exactly once) → ``dedupe`` (a redelivered event credits nothing more). A check marked
``@pytest.mark.smoke_depends_on("credit")`` is ``blocked`` — it sends nothing and waits for nothing — when that
foundation or one beneath it failed, and names which check failed and why. Under xdist each worker probes once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from _pytest.outcomes import Failed

from smoke.checks import Failure, Smoke, fail
from smoke.diagnosis import GARBAGE, probe_credit, probe_redelivery
from smoke.verdicts import PASSED, Blocked, Finding, Inconclusive, Verdict, failed, inconclusive


@dataclass(frozen=True)
class Foundation:
    """One foundation: what it rests on, the probe that decides it, and the check that reports it."""

    name: str
    requires: str | None
    probe: Callable[[Smoke], None]
    reported_by: Callable[[Smoke], str]


def _route(smoke: Smoke) -> None:
    path = smoke.target.profile.webhook_path
    response = smoke.target.request("POST", path, step="preflight", content=b"{}",
                                    headers={"Content-Type": smoke.target.profile.content_type})
    if response.status_code in (404, 405):
        fail(f"POST {path} answered {response.status_code}: there is no webhook route there; fix [webhook].path "
             "(and --base-url).", "no_route")
    if 300 <= response.status_code < 400:
        fail(f"POST {path} answered {response.status_code} (a redirect to {response.headers.get('location', '?')}): "
             "Stripe treats a redirect as a failed delivery; point --base-url and [webhook].path at the final URL.",
             "redirect")
    if response.is_success and not smoke.observable:
        garbage = smoke.target.request("POST", path, step="preflight", content=GARBAGE,
                                       headers={"Content-Type": smoke.target.profile.content_type})
        if garbage.is_success:
            fail(f"POST {path} answered {response.status_code} to an unsigned '{{}}' and {garbage.status_code} to an "
                 "unsigned body that is not even JSON: the webhook acknowledges everything without verifying the "
                 "signature (or answers before verifying). The harness cannot read a credit state here to see what "
                 "it does with such events; a webhook that verifies signatures answers 400 to them.",
                 "acknowledges_everything")


FOUNDATIONS: dict[str, Foundation] = {
    "route": Foundation("route", None, _route, lambda s: "test_webhook_route_exists"),
    "credit": Foundation("credit", "route", probe_credit,
                         lambda s: "test_signed_event_credits_exact_amount" if s.observable
                         else "test_acknowledges_within_window"),
    "dedupe": Foundation("dedupe", "credit", probe_redelivery, lambda s: "test_redelivery_credits_once"),
}


class Foundations:
    """The session's foundation findings, each probed once, on first need."""

    def __init__(self) -> None:
        self._findings: dict[str, Finding] = {}
        self._lock = threading.RLock()

    def finding(self, name: str, smoke: Smoke) -> Finding:
        """The finding of foundation ``name`` (probing it now if no check has yet)."""
        with self._lock:
            if name not in self._findings:
                self._findings[name] = _run(FOUNDATIONS[name], smoke)
            return self._findings[name]

    def held(self, name: str) -> bool:
        """True when foundation ``name`` and every one beneath it were probed already and held (never probes)."""
        current: str | None = name
        with self._lock:
            while current is not None:
                found = self._findings.get(current)
                if found is None or not found.ok:
                    return False
                current = FOUNDATIONS[current].requires
        return True

    def require(self, name: str, smoke: Smoke, *, below: bool = False) -> None:
        """Raise Blocked unless foundation ``name`` (or only those beneath it, with ``below``) held."""
        chain: list[str] = []
        current: str | None = name
        while current is not None:
            chain.insert(0, current)
            current = FOUNDATIONS[current].requires
        if below:
            chain.pop()
        for step in chain:
            found = self.finding(step, smoke)
            if not found.ok:
                reporter = FOUNDATIONS[step].reported_by(smoke)
                what = "was inconclusive" if found.verdict is Verdict.INCONCLUSIVE else "failed"
                blocked = Blocked(f"blocked: {reporter} {what} ({found.cause.replace('_', ' ')}), and this check "
                                  "depends on it; that check's message has the evidence", found.cause)
                blocked.foundation_failed = found.verdict is Verdict.FAILED
                raise blocked


def _run(foundation: Foundation, smoke: Smoke) -> Finding:
    # A foundation gets a subject of its own (a fresh invoice for from → to effects), and so does the check after it.
    smoke.target.begin_check()
    try:
        foundation.probe(smoke)
    except Failure as exc:
        return failed(exc.cause or foundation.name, exc.msg or "")
    except Inconclusive as exc:
        return inconclusive(exc.cause or "unobservable", exc.msg or "")
    except Failed as exc:
        return failed(foundation.name, exc.msg or "")
    finally:
        smoke.target.begin_check()
    return PASSED
