"""Real Checkout in phases: create (receipt), pay (browser, API or person), verify (verdict).

Each phase is an entry point here; the verdicts are ``checkout_verdicts.py``, the payers ``payers.py``, the status
line of a wait ``verify_progress.py`` and the way back to a receipt's target ``receipt_client.py``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from smoke.checkout_verdicts import EXIT_CODES, Verdict, credit_text, explain, judge
from smoke.config import Settings
from smoke.effects import Effect
from smoke.errors import ConfigError
from smoke.payers import PayResult, open_in_browser, pay_api, pay_browser, pay_person
from smoke.placeholders import references
from smoke.profiles import Profile, load_profile
from smoke.receipt_client import receipts_dir, restore
from smoke.receipts import Receipt, load, save
from smoke.redact import Redactor, default_redactor
from smoke.run_context import RunContext
from smoke.target import open_target
from smoke.verify_progress import Watch
from smoke.waiting import hold_steady, wait_for

# What callers import from here, though it lives beside the phases; tests reach _restore and _Watch by these names.
__all__ = ["EXIT_CODES", "PayResult", "Verdict", "create", "open_in_browser", "pay", "receipts_dir", "verify"]
_restore = restore
_Watch = Watch


def _stored_context(profile: Profile, context: RunContext) -> dict[str, Any]:
    """The step results verify needs to read the state as the buyer (and nothing else; no secret variable)."""
    needed = references([profile.auth_headers, profile.state_value, profile.delta, profile.state_to,
                         *(vars(profile.state).values() if profile.state else [])])
    return context.stored(sorted(needed), secret_vars=[name for name, var in profile.vars.items() if var.secret])


def create(settings: Settings, base_url: str, *, out: Any = None,
           redactor: Redactor | None = None) -> tuple[Receipt, Path]:
    """Create-only: make the buyer, read the baseline, start a Checkout Session, write the receipt and URL."""
    out = out or sys.stdout
    profile = load_profile(settings.target)
    if not profile.can("purchase"):
        raise ConfigError(f"The {profile.name} profile has no [purchase] step, so it cannot start a Checkout Session.")
    client = open_target(profile, base_url, webhook_secret=settings.webhook_secret, http_timeout=settings.http_timeout,
                         rate_limit_per_minute=settings.rate_limit, redactor=redactor or default_redactor())
    try:
        baseline = wait_for(client.read_state, lambda _v: True, settings.timeout).value
        purchase = client.start_purchase()
        effect = client.effect()
        receipt = Receipt(
            target=profile.name, base_url=base_url, run_id=client.run_id,
            buyer=client.context.email or "",
            session_id=purchase.session_id, checkout_url=purchase.checkout_url, payment_intent=purchase.payment_intent,
            effect={"delta": effect.delta} if effect.numeric else {"from": effect.from_, "to": effect.to},
            baseline=baseline, context=_stored_context(profile, client.context), stripe_api_base=settings.stripe_api_base,
        )
    finally:
        client.close()
    receipt.record("create", "created", f"session {purchase.session_id}", client.redactor)
    folder = receipts_dir(settings)
    path = save(receipt, folder / f"{receipt.receipt_id}.json")
    url_file = folder / f"{receipt.receipt_id}.url"
    url_file.write_text((purchase.checkout_url or "") + "\n", encoding="utf-8")
    print(f"receipt:      {path}\ncheckout URL: {url_file}\n{purchase.checkout_url}", file=out)
    print(f"baseline:     {baseline}; expecting {effect.describe(baseline)}", file=out)
    return receipt, path


def verify(receipt_path: Path, settings: Settings, *, deadline: float, out: Any = None,
           redactor: Redactor | None = None) -> Verdict:
    """Verify-only: wait until the credit shows exactly once, then judge; the receipt records the verdict."""
    out = out or sys.stdout
    receipt = load(receipt_path, target=None if settings.target == "demo" else settings.target)
    if receipt.status == "verified":
        verdict = Verdict("verified", f"Receipt {receipt.receipt_id} was already verified "
                                      f"({receipt.history[-1]['at'] if receipt.history else 'earlier'}); nothing to do.")
        print(verdict.message, file=out)
        return verdict
    client = restore(receipt, settings, redactor)
    effect = Effect(delta=receipt.effect["delta"]) if "delta" in receipt.effect else \
        Effect(to=receipt.effect.get("to"), from_=receipt.effect.get("from"))
    stripe_client = watcher_client = None
    if settings.stripe_api_key and receipt.session_id:
        from smoke.stripe_api import client as make_client

        api_base = settings.stripe_api_base or receipt.stripe_api_base
        stripe_client = make_client(settings.stripe_api_key, api_base)
        watcher_client = make_client(settings.stripe_api_key, api_base)  # its own: the watcher asks from a thread
    created = int(datetime.fromisoformat(receipt.created_at).timestamp())
    stripe_state: list[Any] = [None]
    # Stripe is asked (at most every 2 s) beside the credit polling; an expired session ends the wait at once.
    watch = Watch(out, "waiting for the credit", deadline, describe=lambda v: credit_text(effect, receipt.baseline, v),
                   redactor=client.redactor, stripe_client=watcher_client, session_id=receipt.session_id or "",
                   credit_event=client.profile.credit_event, created_after=created)
    try:
        watch.start()
        outcome = wait_for(watch.reading(client.read_state), lambda v: judge(effect, receipt.baseline, v) is not None,
                           deadline, start=0.05, cap=2.0, stop=lambda _v: watch.ended)
        if watch.error is not None:
            raise watch.error
        seen = outcome.value
        verdict_code = judge(effect, receipt.baseline, seen)
        if verdict_code is None and outcome.cut_short:
            verdict_code = "inconclusive"
        if verdict_code == "verified":
            watch.phase(f"credited, checking it stays for {settings.settle:g} s", settings.settle)
            steady = hold_steady(watch.reading(client.read_state, cut=False), seen, settings.settle)
            verdict_code = judge(effect, receipt.baseline, steady.value) if not steady.ok else "verified"
            seen = steady.value
        watch.stop()
        if stripe_client is not None:  # the ids (intent, event) for the message, and the evidence when it failed
            from smoke.stripe_api import session_state

            stripe_state[0] = session_state(stripe_client, receipt.session_id or "", client.profile.credit_event, created)
        ledger = None
        state = stripe_state[0]
        if verdict_code is None and state is not None and state.event_id and not state.pending_webhooks:
            ledger = client.ledger_entries_mentioning({receipt.session_id or "", state.payment_intent or "", state.event_id})
    finally:
        watch.stop()
        client.close()
    verdict = explain(verdict_code, receipt, effect, seen, stripe_state[0], deadline, ledger)
    receipt.record("verify", verdict.code if verdict.code != "not_credited" else "created", verdict.message,
                   client.redactor)
    save(receipt, Path(receipt_path))
    print(client.redactor.redact(verdict.message), file=out)
    return verdict


def pay(receipt_path: Path, settings: Settings, *, via: str = "browser", card: str = "4242424242424242",
        three_ds: str = "complete", fallback: str | None = None, headless: bool = True,
        deadline: float = 600.0, out: Any = None, redactor: Redactor | None = None) -> PayResult:
    """Pay the receipt's Checkout Session with the chosen payer; the receipt records what happened."""
    from smoke.stripe_api import normalise_card
    out = out or sys.stdout
    redactor = redactor or default_redactor()

    card = normalise_card(card)
    if via not in ("browser", "api", "person"):
        raise ConfigError(f"--via must be browser, api or person, not {via!r}.")
    receipt = load(Path(receipt_path))
    if not receipt.checkout_url:
        raise ConfigError(f"Receipt {receipt_path} has no checkout URL; its target's [purchase] must return one.")
    if via == "browser":
        result = pay_browser(receipt, settings, card, three_ds, headless, redactor)
        if result.status == "failed" and fallback == "api":
            print(f"The page could not be automated ({result.message}); paying through the API instead (--fallback api).", file=out)
            result = pay_api(receipt, settings, card, payer="api (fallback)")
    elif via == "api":
        result = pay_api(receipt, settings, card)
    else:
        result = pay_person(receipt, settings, deadline, out, redactor)
    status = {"succeeded": "paid", "declined": "declined"}.get(result.status, "pay_failed")
    receipt.record(f"pay ({result.payer})", status, result.message, redactor)
    save(receipt, Path(receipt_path))
    print(f"pay ({result.payer}): {result.status}: {result.message}", file=out)
    for artifact in result.artifacts:
        print(f"  saved {artifact}", file=out)
    return result
