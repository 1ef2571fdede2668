"""The foundation probes, and how a failed credit is explained: probe once more until one cause fits the evidence.

A correctly signed crediting event can fail in a few ways that look alike from outside. Each branch below asks
the target one or two more questions before naming a cause, and names only the cause the answers support:

- rejected (4xx): a body re-serialised before verifying (compact JSON is accepted), the harness holding the wrong
  secret (the answer is identical to a forgery's, for every correctly signed event), or the event's content refused
  (a correctly signed event of another type is accepted);
- crashed (5xx), even on Stripe's redeliveries; or acknowledged on a redelivery without crediting (recorded before
  processed);
- acknowledged without a credit: a webhook that acknowledges everything (unsigned garbage gets a 2xx too), an event
  shape from another API version (the same payment shaped for an older or newer version credits), a credit to
  another account (the buyer's ledger has no entry), or just lost.
"""

from __future__ import annotations

import json
from typing import Any

from smoke.checks import Credit, Sent, Smoke, fail
from smoke.events import ShapeChange, contrasting_versions
from smoke.verdicts import credit_mismatch

GARBAGE = b"stripe-smoke probe: this body is not a Stripe event"


def probe_credit(smoke: Smoke) -> None:
    """A correctly signed crediting event is acknowledged and (where the state is readable) credits exactly once."""
    baseline = smoke.read() if smoke.observable else None
    event = smoke.crediting_event()
    sent = smoke.send(event)
    first_status = sent.delivery.status
    for _ in range(2):  # Stripe redelivers a failed event with the same id; so do we, twice
        if sent.delivery.ok or not 500 <= sent.delivery.status < 600:
            break
        sent = smoke.send(event)
    if not sent.delivery.ok:
        _explain_refusal(smoke, event, sent, first_status)
    if not smoke.observable:
        return
    credit = await_one_credit(smoke, baseline, sent.summary)
    if credit is None:
        return
    if first_status >= 500:
        fail(f"{event['type']} got HTTP {first_status}; Stripe's redelivery of the same event ({event['id']}) was "
             f"acknowledged (HTTP {sent.delivery.status}) but nothing was credited: the target records the event "
             "before processing it, so a payment whose first delivery fails is lost.", "records_before_processing")
    _explain_no_credit(smoke, event, sent, baseline, credit.seen)


def await_one_credit(smoke: Smoke, baseline: Any, what: str) -> Credit | None:
    """Wait for one credit from ``baseline``: None when it came, a failure when the state moved wrongly, else what was seen."""
    credit = smoke.await_credit(baseline)
    if credit.code == "credited":
        return None
    if credit.code is not None:
        fail(f"{what}: {credit_mismatch(credit.code, smoke.effect(), baseline, credit.seen)}.", credit.code)
    return credit


def _explain_refusal(smoke: Smoke, event: dict[str, Any], sent: Sent, first_status: int) -> None:
    status, body = sent.delivery.status, sent.delivery.body[:160]
    if status >= 500:
        fail(f"A correctly signed {event['type']} ({event['id']}) crashed the webhook: HTTP {status} on the first "
             "delivery and on two redeliveries of the same event, as Stripe would retry it "
             f"({body!r}). Stripe keeps retrying for up to three days and then disables the endpoint; the target's "
             "logs for this event id show the error.", "crashes")
    if 300 <= status < 400:
        fail(f"A correctly signed {event['type']} was answered with a redirect (HTTP {status}): Stripe treats a "
             "redirect as a failed delivery; point --base-url and [webhook].path at the final URL.", "redirect")
    compact = smoke.send(event, body=json.dumps(event, separators=(",", ":")).encode())
    if compact.delivery.ok:
        fail(f"A correctly signed {event['type']} was rejected with HTTP {status} ({body!r}), but the same event "
             "as compact JSON was accepted: the webhook verifies the signature over a re-serialised body instead "
             "of the raw bytes Stripe signed (Stripe's bodies are indented JSON). Verify the raw request body.",
             "reserialized_body")
    forged = smoke.send(event, secrets=["whsec_" + "0" * 32])
    other = smoke.send(smoke.event("customer.tax_id.created"))
    same_as_forged = forged.delivery.status == status and _same_answer(forged.delivery.body, sent.delivery.body)
    if same_as_forged and not other.delivery.ok and _same_answer(other.delivery.body, sent.delivery.body):
        fail(f"Every correctly signed event is rejected: {event['type']} and customer.tax_id.created both got "
             f"HTTP {status} ({body!r}), exactly the answer to an event signed with a made-up secret. The webhook "
             "secret given to the harness is most likely not this endpoint's signing secret: set "
             "STRIPE_WEBHOOK_SECRET (or --webhook-secret) to the endpoint's secret (Dashboard → Developers → "
             "Webhooks → the endpoint → Signing secret; `stripe listen` prints its own).", "wrong_secret")
    if other.delivery.ok:
        fail(f"A correctly signed {event['type']} was rejected with HTTP {status} ({body!r}), while a correctly "
             f"signed customer.tax_id.created was acknowledged: the signature is accepted, the crediting event's "
             "content is refused. Check the fields the profile puts in [webhook.object] against what the target "
             "requires (its logs say which), and --api-version.", "refuses_event")
    fail(f"A correctly signed {event['type']} was rejected with HTTP {status} ({body!r}), and differently from an "
         f"event signed with a made-up secret (HTTP {forged.delivery.status}): the target refuses the event after "
         "checking its signature. Stripe would retry it and then give up: the credit is lost. The target's logs "
         f"for {event['id']} say why.", "rejected")


def _same_answer(a: str, b: str) -> bool:
    """Two answers say the same thing (ignoring ids and times that differ per request)."""
    def shape(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError:
            return text.strip()
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in ("id", "request_id", "requestId", "timestamp", "time")}
        return value
    return bool(shape(a) == shape(b))


def _explain_no_credit(smoke: Smoke, event: dict[str, Any], sent: Sent, baseline: Any, seen: Any) -> None:
    effect = smoke.effect()
    observed = (f"{sent.summary}, but the credit state did not move ({effect.describe(baseline)} expected, still "
                f"{seen} after {smoke.settings.timeout:g}s)")
    garbage = smoke.target.request("POST", smoke.target.profile.webhook_path, step="probe", content=GARBAGE,
                                   headers={"Content-Type": smoke.target.profile.content_type})
    if 200 <= garbage.status_code < 300:
        fail(f"The webhook acknowledges everything: {observed}, and an unsigned body that is not even JSON got HTTP "
             f"{garbage.status_code} too. It answers 2xx without processing the event — a catch-all handler, or an "
             "error path that answers 200 — and Stripe never retries an acknowledged event, so every payment is "
             "lost; answer 2xx only after the credit is committed, 4xx/5xx when it is not.", "acknowledges_everything")
    for version, change in contrasting_versions(event["type"], smoke.api_version):
        replay = smoke.send(smoke.crediting_event(api_version=version))
        if not replay.delivery.ok:
            continue
        credit = smoke.await_credit(baseline)
        if credit.code == "credited":
            fail(f"The event shape of API version {smoke.api_version} is not understood: {observed}, while the same "
                 f"payment shaped for API version {version} credited. {_version_advice(change, version, smoke.api_version)}",
                 "api_version")
        if credit.code is not None:
            break  # the state moved: what follows would not be about shapes any more
    ids = {str(v) for k, v in event["data"]["object"].items() if k in ("id", "payment_intent", "latest_charge")}
    ledger = smoke.target.ledger_entries_mentioning(ids | {event["id"]}) if smoke.target.profile.ledger else None
    metadata = event["data"]["object"].get("metadata") or {}
    if ledger == []:
        fail(f"The target credited another account or none: {observed}, and the buyer's ledger has no entry for this payment "
             f"either. Check how the target maps the event's metadata ({_pairs(metadata)}) to an account; Stripe will "
             "not retry an acknowledged event, so this credit is lost.", "credited_elsewhere")
    fail(f"Acknowledged but not credited: {observed}. Stripe will not retry an acknowledged event, so this credit is "
         f"lost. Check how the handler finds the account (the event's metadata: {_pairs(metadata) or 'none'}) and its "
         "logs for this event id.", "not_credited")


def _version_advice(change: ShapeChange, works: str, sent: str) -> str:
    older_works = works[:10] < change.since
    if older_works or change.after:
        reads = (f"The handler probably reads `{change.before if older_works else change.after}`, which events of "
                 f"{sent} {'no longer carry' if older_works else 'do not carry yet'}")
    else:
        reads = f"The handler probably trips over `{change.before}`, which events of {sent} still carry"
    return (f"{reads} ({change.since}: {change.change}). "
            f"Fix: {change.fix}; or pin the webhook endpoint's API version to the one the handler was written for "
            f"(Dashboard → Webhooks → endpoint) and set [webhook] api_version = \"{works}\" (or --api-version) so the "
            "harness sends that shape.")


def _pairs(metadata: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(metadata.items()))


def probe_redelivery(smoke: Smoke) -> None:
    """The same event delivered again (as Stripe redelivers, same id) is acknowledged and credits nothing more."""
    baseline = smoke.read()
    event = smoke.crediting_event()
    first = smoke.send(event)
    if not first.delivery.ok:
        fail(f"The first delivery of {event['id']} got HTTP {first.delivery.status} although the credit check passed; "
             "the target answers inconsistently: look at its logs for this event id.", "inconsistent")
    smoke.expect_credit(baseline, first, "first delivery")
    credited = smoke.read()
    again = smoke.send(event)
    if again.delivery.status >= 500:
        fail(f"A redelivery of {event['id']} got HTTP {again.delivery.status}: the webhook crashes on a duplicate "
             "(an unhandled unique-key error?); acknowledge duplicates with 2xx, or Stripe keeps retrying them.",
             "crashes_on_duplicate")
    if not again.delivery.ok:
        fail(f"A redelivery of {event['id']} got HTTP {again.delivery.status}: acknowledge duplicates with 2xx, "
             "or Stripe keeps retrying them.", "rejects_duplicate")
    seen = smoke.changed(credited)
    if seen is not None:
        fail(f"The same event ({event['id']}) delivered twice was credited twice ({smoke.effect().describe(baseline)} "
             f"expected, saw {seen}): the webhook does not dedupe on the event id. Record event.id under a unique "
             "constraint in the same transaction as the credit.", "no_dedupe")

