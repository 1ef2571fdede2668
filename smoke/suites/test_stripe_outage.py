"""The Stripe-outage drill: while Stripe fails the target's calls, a real crediting event must not be acknowledged
without a credit; once Stripe is back, its retry of the same event must credit exactly once.

A webhook that re-retrieves the PaymentIntent (or session, or event) before crediting and answers 200 when that
call fails loses the payment: Stripe never retries a 2xx. The drill needs the target and the harness on a local
stripe-smoke emulator (which fails the target's calls on demand and never the harness's), and a profile that says
its webhook asks Stripe (``[drills.stripe_outage]``); it is skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from smoke.checks import Smoke, fail
from smoke.config import Settings
from smoke.embedded import Embedded
from smoke.errors import TargetUnreachable
from smoke.profiles import Profile
from smoke.verdicts import Inconclusive, credit_mismatch
from smoke.waiting import wait_for

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_needs("state", "purchase"),
              pytest.mark.smoke_depends_on("credit")]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Local:
    """The local Stripe the drill controls: its API base and a test key the target's account uses."""

    api_base: str
    api_key: str


@dataclass(frozen=True)
class Answer:
    """What the webhook answered to one delivery: a status, or no answer at all."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx: Stripe takes the event as delivered and never sends it again."""
        return self.status is not None and 200 <= self.status < 300

    def __str__(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else f"no answer: {self.error}"


@pytest.fixture
def stripe_outage_local(smoke_profile: Profile, smoke_settings: Settings, smoke_embedded: Embedded | None) -> Local:
    """The emulator the drill can fail Stripe on; skips (before any probe) when the profile or the setup can't drill."""
    if smoke_profile.stripe_outage_route is None:
        pytest.skip("the profile does not say its webhook asks Stripe while handling an event: add "
                    "[drills.stripe_outage] (docs/profiles.md, 'The Stripe-outage drill') to run this drill")
    key, base = smoke_settings.stripe_api_key, smoke_settings.stripe_api_base
    if smoke_embedded is not None and smoke_embedded.stripe_api_key:
        key, base = key or smoke_embedded.stripe_api_key, base or smoke_embedded.stripe_api_base
    try:
        from smoke.emulator.faults import controllable
    except ImportError:
        pytest.skip("the local Stripe emulator is not part of this installation, and only it can make Stripe fail on purpose")
    if not base or not controllable(base, timeout=smoke_settings.http_timeout):
        pytest.skip(f"Stripe's API here is {base or 'api.stripe.com'}, not a stripe-smoke emulator the harness can "
                    "control (one answering /_emulator/faults): the drill needs the target and the harness pointed at "
                    "one (stripe-smoke emulator; STRIPE_API_BASE)")
    if not key:
        pytest.skip("paying the purchase needs STRIPE_API_KEY (sk_test_…) of the account the target uses")
    return Local(base, key)


def test_credit_survives_a_stripe_outage(stripe_outage_local: Local, smoke: Smoke, smoke_settings: Settings) -> None:
    """While Stripe fails the target's calls, the crediting event gets a non-2xx (or still credits); Stripe's retry
    of the same event after the outage credits exactly once."""
    from smoke.emulator.faults import MAX_HOLD_SECONDS, stripe_outage
    from smoke.stripe_api import client

    local, settings, profile = stripe_outage_local, smoke_settings, smoke.target.profile
    route, kind = profile.stripe_outage_route or "/v1/", profile.stripe_outage_kind
    stripe_client = client(local.api_key, local.api_base, timeout=settings.http_timeout)
    baseline = smoke.read()
    purchase = smoke.target.start_purchase()
    about = [i for i in (purchase.payment_intent, purchase.session_id) if i]
    if not about:
        fail("The purchase answer has no PaymentIntent or Checkout Session id; check [purchase] in the profile.")
    endpoint = _endpoint_for(stripe_client, smoke)
    # Bounded, in case the harness dies mid-drill; the drill ends it as soon as the first delivery is answered.
    window = settings.timeout + 3 * settings.http_timeout + 30
    with stripe_outage(local.api_base, seconds=window, kind=kind, route=route, about=about,
                       hold_seconds=min(MAX_HOLD_SECONDS, window), timeout=settings.http_timeout) as outage:
        event = _pay_and_find_event(smoke, settings, local, stripe_client, purchase.payment_intent, purchase.session_id,
                                    about)
        first = _first_delivery(smoke, settings, local, event, endpoint)
        failed = outage.failed_calls()
        outage.end()  # Stripe is back
    what = f"{event['type']} {event['id']}"
    if not failed:
        pytest.skip(f"while Stripe was failing calls to {route} about {', '.join(about)}, the target made none while "
                    f"handling {what} (it answered {first}): nothing was drilled; set [drills.stripe_outage] route to "
                    "the Stripe API its webhook calls")
    calls = f"the emulator failed the target's {', '.join(failed[:2])}{'…' if len(failed) > 2 else ''} with {kind}"
    effect = smoke.effect()
    if first.ok:
        # Acknowledged during the outage: that is fine only if it still credits (a queue that retries the call).
        credit = smoke.await_credit(baseline)
        if credit.code is None:
            fail(f"{what} was acknowledged while Stripe was unreachable ({first}, no credit); Stripe will not retry a "
                 "2xx, so the credit is lost — answer 5xx when a Stripe call fails ("
                 f"{effect.describe(baseline)} expected, still {credit.seen} {settings.timeout:g}s after Stripe was "
                 f"back; {calls}).", "acknowledged_during_outage")
        if credit.code != "credited":
            fail(f"{what} ({first} during a Stripe outage): {credit_mismatch(credit.code, effect, baseline, credit.seen)}.",
                 credit.code)
        return
    retry = _retry(smoke, settings, local, event, endpoint)
    if not retry.ok:
        fail(f"{what} failed ({first}) while Stripe was down, as it should, but Stripe's retry after it was back "
             f"failed too ({retry}): the webhook does not recover once the cause is gone ({calls}).", "retry_fails")
    credit = smoke.await_credit(baseline)
    if credit.code is None:
        fail(f"{what} failed ({first}) while Stripe was down, as it should, but Stripe's retry after it was back was "
             f"acknowledged ({retry}) and credited nothing: the webhook records the event before processing it — the "
             "event id was recorded before the Stripe call failed, so the retry was taken for a duplicate and the "
             "payment is lost. Record the event id in the same transaction as the credit "
             f"({effect.describe(baseline)} expected, still {credit.seen}; {calls}).", "records_before_processing")
    if credit.code != "credited":
        fail(f"{what} (a failed delivery while Stripe was down, then Stripe's retry, {retry}): "
             f"{credit_mismatch(credit.code, effect, baseline, credit.seen)}.", credit.code)


def _same_url(a: str, b: str) -> bool:
    """The same URL, counting every loopback host name as one."""
    pa, pb = urlsplit(a), urlsplit(b)
    same_host = pa.hostname == pb.hostname or (pa.hostname in LOOPBACK and pb.hostname in LOOPBACK)
    return (pa.scheme, pa.port, pa.path.rstrip("/")) == (pb.scheme, pb.port, pb.path.rstrip("/")) and same_host


def _endpoint_for(stripe_client: Any, smoke: Smoke) -> str | None:
    """The id of the emulator's webhook endpoint that delivers the crediting event to this target, if it has one."""
    from smoke.stripe_api import plain

    url = smoke.target.base_url + smoke.target.profile.webhook_path
    for endpoint in map(plain, stripe_client.v1.webhook_endpoints.list(params={"limit": 100}).data):
        events = endpoint.get("enabled_events") or []
        if (endpoint.get("status") == "enabled" and _same_url(str(endpoint.get("url")), url)
                and ("*" in events or smoke.target.profile.credit_event in events)):
            return str(endpoint["id"])
    return None


def _pay_and_find_event(smoke: Smoke, settings: Settings, local: Local, stripe_client: Any, intent: str | None,
                        session: str | None, about: list[str]) -> dict[str, Any]:
    """Pay the purchase on Stripe in test mode (the harness's calls are never failed) and return the crediting event."""
    from smoke.intents import confirm_intent
    from smoke.stripe_api import pay_session, plain

    if intent and not session:
        confirmed = confirm_intent(local.api_key, intent, api_base=local.api_base)
        if confirmed.status != "succeeded":
            fail(f"Stripe did not let the test card pay {intent}: {confirmed.message}.")
    else:
        paid = pay_session(stripe_client, session or "")
        if paid.status != "succeeded":
            fail(f"Stripe did not let the test card pay {session}: {paid.message}.")
    credit_event = smoke.target.profile.credit_event

    def find() -> dict[str, Any] | None:
        for event in map(plain, stripe_client.v1.events.list(params={"type": credit_event, "limit": 100}).data):
            obj = (event.get("data") or {}).get("object") or {}
            if obj.get("id") in about or obj.get("payment_intent") in about:
                return event
        return None

    outcome = wait_for(find, lambda e: e is not None, settings.timeout)
    if outcome.value is None:
        fail(f"Stripe has no {credit_event} for {', '.join(about)} {settings.timeout:g}s after it was paid; is "
             "[webhook] credit_event the event this payment produces?")
    return outcome.value


def _attempt(local: Local, settings: Settings, event_id: str, endpoint: str, number: int) -> dict[str, Any] | None:
    """The emulator's record of delivery attempt ``number`` of the event to the endpoint, once there is one."""
    import httpx

    from smoke.emulator.faults import verify_for

    response = httpx.get(f"{local.api_base}/_emulator/deliveries", params={"event_id": event_id, "endpoint_id": endpoint},
                         timeout=settings.http_timeout, trust_env=False, verify=verify_for(local.api_base))
    response.raise_for_status()
    return next((a for a in response.json()["deliveries"] if a["attempt"] == number), None)


def _answer(attempt: dict[str, Any]) -> Answer:
    return Answer(attempt.get("status_code"), str(attempt.get("error") or ""))


def _first_delivery(smoke: Smoke, settings: Settings, local: Local, event: dict[str, Any], endpoint: str | None) -> Answer:
    """The webhook's answer to the event's first delivery: the emulator's own, or the harness's when none is registered."""
    if endpoint is None:
        return _deliver(smoke, event)
    wait = settings.timeout + 2 * settings.http_timeout
    outcome = wait_for(lambda: _attempt(local, settings, event["id"], endpoint, 1), lambda a: a is not None, wait, cap=0.2)
    if outcome.value is None:
        raise Inconclusive(f"Inconclusive: the emulator did not deliver {event['id']} to the target's endpoint {endpoint} "
                           f"within {wait:g}s, so there is no delivery to judge; look at GET {local.api_base}"
                           "/_emulator/deliveries.", "not_delivered")
    return _answer(outcome.value)


def _retry(smoke: Smoke, settings: Settings, local: Local, event: dict[str, Any], endpoint: str | None) -> Answer:
    """Stripe's retry of the same event: the emulator's, run now, or the same bytes again from the harness."""
    import httpx

    from smoke.emulator.faults import verify_for

    if endpoint is not None:
        httpx.post(f"{local.api_base}/_emulator/retries/fast-forward", timeout=settings.timeout + 2 * settings.http_timeout,
                   trust_env=False, verify=verify_for(local.api_base)).raise_for_status()
        attempt = _attempt(local, settings, event["id"], endpoint, 2)
        if attempt is not None:
            return _answer(attempt)
    return _deliver(smoke, event)  # no retry scheduled there (max_retries = 0): deliver it as the retry would


def _deliver(smoke: Smoke, event: dict[str, Any]) -> Answer:
    """Deliver the event signed, as Stripe does (same id and bytes each time); no answer in time is a failed delivery."""
    previous = next((s for s in reversed(smoke.sent) if s.event.get("id") == event["id"]), None)
    try:
        sent = smoke.send(event, body=previous.body if previous is not None else None)
    except TargetUnreachable as exc:
        return Answer(None, str(exc))
    return Answer(sent.delivery.status)
