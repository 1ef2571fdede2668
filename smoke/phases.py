"""Real Checkout in phases: create (receipt), pay (browser, API or person), verify (verdict)."""

from __future__ import annotations

import json
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from smoke.config import Settings
from smoke.effects import Effect
from smoke.errors import ConfigError
from smoke.placeholders import references
from smoke.profiles import Profile, load_profile
from smoke.receipts import Receipt, load, save
from smoke.redact import Redactor, default_redactor
from smoke.run_context import RunContext
from smoke.steps import register_secrets
from smoke.target import TargetClient, open_target
from smoke.verdicts import EXIT_INCONCLUSIVE, credit_mismatch, judge_credit
from smoke.waiting import RateLimited, hold_steady, wait_for

# Verdicts of verify and their exit codes, so CI can tell them apart.
EXIT_CODES = {"verified": 0, "not_paid": 10, "paid_not_credited": 11, "wrong_amount": 12,
              "credited_twice": 13, "not_credited": 14, "inconclusive": EXIT_INCONCLUSIVE}


@dataclass
class Verdict:
    """The outcome of verify: a code from EXIT_CODES and a message with the ids to look further."""

    code: str
    message: str

    @property
    def exit_code(self) -> int:
        """The process exit code for this verdict."""
        return EXIT_CODES[self.code]


def receipts_dir(settings: Settings) -> Path:
    """Where receipts are written."""
    return Path(settings.reports_dir) / "receipts"


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


def open_in_browser(url: str) -> None:
    """Open the checkout URL in the user's browser (SMOKE_OPEN_CHECKOUT_URL=true)."""
    webbrowser.open(url, new=2)


def _restore(receipt: Receipt, settings: Settings, redactor: Redactor | None = None) -> TargetClient:
    """A client for the receipt's target that knows what create knew (its stored context) and reads as that buyer."""
    profile = load_profile(settings.target if settings.target != "demo" or receipt.target == "demo" else receipt.target)
    client = open_target(profile, receipt.base_url, webhook_secret=None, http_timeout=settings.http_timeout,
                         rate_limit_per_minute=settings.rate_limit, redactor=redactor or default_redactor())
    client.context.restore(receipt.context)  # secret vars were not stored: they keep their value from the environment
    for step in (profile.buyer, *profile.setup):
        if step is not None:
            register_secrets(client.redactor, client.context.result(step.name, {}), step.secrets)
    client.auth_headers()  # registers the bearer token with the redactor
    return client


def _judge(effect: Effect, baseline: Any, seen: Any) -> str | None:
    code = judge_credit(effect, baseline, seen)
    return "verified" if code == "credited" else code


# While verify or the person payer waits: a status line this often (seconds), and Stripe asked at most this often.
PROGRESS_EVERY = 2.0
STRIPE_EVERY = 2.0


def _credit_text(effect: Effect, baseline: Any, value: Any) -> str:
    """``credit state 1000 (baseline 1000, expecting +500)`` for the status line."""
    if effect.numeric:
        delta = effect.delta
        expecting = f"+{int(delta) if isinstance(delta, float) and delta.is_integer() else delta}"
    else:
        expecting = str(effect.to)
    return f"credit state {str(value)[:80]} (baseline {str(baseline)[:80]}, expecting {expecting})"


class _Watch:
    """Watches a wait from background threads: asks Stripe about the session and prints a status line."""

    def __init__(self, out: Any, label: str, seconds: float, *, describe: Callable[[Any], str],
                 redactor: Redactor | None = None, stripe_client: Any = None, session_id: str = "",
                 credit_event: str = "", created_after: int = 0) -> None:
        self.out, self.label, self.describe = out, label, describe
        self.redactor = redactor or default_redactor()
        self.live = bool(getattr(out, "isatty", lambda: False)())
        self.ends = time.monotonic() + seconds
        self.stripe_client, self.session_id = stripe_client, session_id
        self.credit_event, self.created_after = credit_event, created_after
        self.credit = "credit state not read yet"
        self.stripe: Any = None  # the latest SessionState
        self.error: Exception | None = None  # why Stripe could not be asked; the wait ends and raises it
        self.expired = False
        self._read = self._printed = False
        self._last: Any = None
        self._halt = threading.Event()
        self._shower: threading.Thread | None = None

    def start(self) -> _Watch:
        """Start asking Stripe (with a key) and showing the status line."""
        if self.stripe_client is not None:
            threading.Thread(target=self._ask_stripe, name="stripe-smoke-stripe", daemon=True).start()
        self._shower = threading.Thread(target=self._show, name="stripe-smoke-status", daemon=True)
        self._shower.start()
        return self

    def stop(self) -> None:
        """Stop both threads (a Stripe request in flight finishes on its own) and end a rewritten line."""
        if self._halt.is_set():
            return
        self._halt.set()
        if self._shower is not None:
            self._shower.join(timeout=5)
        if self.live and self._printed:
            print(file=self.out, flush=True)

    def phase(self, label: str, seconds: float) -> None:
        """Show another stage of the wait, with its own time left."""
        self.label, self.ends = label, time.monotonic() + seconds

    @property
    def ended(self) -> bool:
        """True once Stripe says the session expired, or could not be asked: the wait should end now."""
        return self.expired or self.error is not None

    @property
    def paid(self) -> bool:
        """True once Stripe says the session is paid."""
        return self.stripe is not None and self.stripe.payment_status == "paid"

    def reading(self, read: Callable[[], Any], *, cut: bool = True) -> Callable[[], Any]:
        """``read``, noting each value (or 429) for the status line; with ``cut``, no more reads once ``ended``."""

        def noted() -> Any:
            if cut and self.ended:
                return self._last
            try:
                value = read()
            except RateLimited as exc:
                self.credit = f"the target is throttling (429, asked to wait {exc.retry_after:g} s)"
                raise
            self._last, self._read, self.credit = value, True, self.describe(value)
            return value

        return noted

    def status(self) -> str:
        """What Stripe and the target say, redacted, without the time left."""
        state = self.stripe
        if self.stripe_client is None:
            stripe = "no STRIPE_API_KEY to ask Stripe"
        elif state is None:
            stripe = "Stripe has not answered yet"
        else:
            stripe = f"Stripe says session {state.status}/{state.payment_status}"
            if state.event_id:
                stripe += f", {state.event_id} pending_webhooks={state.pending_webhooks}"
        return self.redactor.redact(f"{stripe} · {self.credit}")

    def line(self) -> str:
        """The status line: the stage, what Stripe and the target say, and the time left."""
        left = max(0.0, self.ends - time.monotonic())
        return self.redactor.redact(f"{self.label}: {self.status()} · {left:.0f} s left")

    def _ask_stripe(self) -> None:
        from smoke.stripe_api import session_state

        while not self._halt.is_set():
            asked = time.monotonic()
            try:
                self.stripe = session_state(self.stripe_client, self.session_id, self.credit_event, self.created_after)
            except Exception as exc:  # noqa: BLE001 - raised again by the waiting thread
                self.error = exc
                return
            if self.stripe.status == "expired":
                self.expired = True
                return
            self._halt.wait(max(0.0, STRIPE_EVERY - (time.monotonic() - asked)))

    def _show(self) -> None:
        # A wait that ends within a second prints only its verdict; the first line waits (up to 3 s) for both answers.
        begin = time.monotonic()
        due = begin + 1.0
        while not self._halt.wait(max(0.0, due - time.monotonic())):
            ready = self._read and (self.stripe_client is None or self.stripe is not None or self.ended)
            if not self._printed and not ready and time.monotonic() < begin + 3.0 - 0.2:
                due = time.monotonic() + 0.1
                continue
            line = self.line()
            if self.live:
                self.out.write("\r" + line + "\x1b[K")
                self.out.flush()
            else:
                print(line, file=self.out, flush=True)
            self._printed = True
            due = time.monotonic() + PROGRESS_EVERY


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
    client = _restore(receipt, settings, redactor)
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
    watch = _Watch(out, "waiting for the credit", deadline, describe=lambda v: _credit_text(effect, receipt.baseline, v),
                   redactor=client.redactor, stripe_client=watcher_client, session_id=receipt.session_id or "",
                   credit_event=client.profile.credit_event, created_after=created)
    try:
        watch.start()
        outcome = wait_for(watch.reading(client.read_state), lambda v: _judge(effect, receipt.baseline, v) is not None,
                           deadline, start=0.05, cap=2.0, stop=lambda _v: watch.ended)
        if watch.error is not None:
            raise watch.error
        seen = outcome.value
        verdict_code = _judge(effect, receipt.baseline, seen)
        if verdict_code is None and outcome.cut_short:
            verdict_code = "inconclusive"
        if verdict_code == "verified":
            watch.phase(f"credited, checking it stays for {settings.settle:g} s", settings.settle)
            steady = hold_steady(watch.reading(client.read_state, cut=False), seen, settings.settle)
            verdict_code = _judge(effect, receipt.baseline, steady.value) if not steady.ok else "verified"
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
    verdict = _explain(verdict_code, receipt, effect, seen, stripe_state[0], deadline, ledger)
    receipt.record("verify", verdict.code if verdict.code != "not_credited" else "created", verdict.message,
                   client.redactor)
    save(receipt, Path(receipt_path))
    print(client.redactor.redact(verdict.message), file=out)
    return verdict


def _explain(code: str | None, receipt: Receipt, effect: Effect, seen: Any, stripe: Any, deadline: float,
             ledger: list[Any] | None = None) -> Verdict:
    ids = f"session {receipt.session_id}"
    if stripe is not None and stripe.payment_intent:
        ids += f", payment intent {stripe.payment_intent}"
    if stripe is not None and stripe.event_id:
        ids += f", event {stripe.event_id}"
    expected = effect.describe(receipt.baseline)
    if code == "verified":
        return Verdict("verified", f"Verified: the credit state went {expected} for {receipt.buyer} ({ids}).")
    if code in ("credited_twice", "wrong_amount"):
        phrase = credit_mismatch(code, effect, receipt.baseline, seen)
        return Verdict(code, f"{phrase[0].upper()}{phrase[1:]} ({ids}).")
    if code == "inconclusive":
        return Verdict("inconclusive", f"Inconclusive: the target answered 429 and asked to wait past the deadline, so "
                                       f"the credit state could not be read (expected {expected}; {ids}). Nothing is "
                                       "known about the payment yet: run verify again later, or raise --deadline.")
    if stripe is None:
        return Verdict("not_credited", f"No credit after {deadline:g}s (still {seen}, expected {expected}; {ids}). "
                                       "Give STRIPE_API_KEY to tell 'not paid' from 'paid but not credited'.")
    if stripe.payment_status != "paid" and stripe.status == "expired":
        return Verdict("not_paid", f"Not paid: the Checkout Session expired and nobody paid it (Stripe says "
                                   f"{stripe.status}/{stripe.payment_status}; {ids}); it can no longer be paid, so "
                                   "start a new payment with 'stripe-smoke checkout create'.")
    if stripe.payment_status != "paid":
        return Verdict("not_paid", f"Not yet paid: Stripe says the session is {stripe.status}/{stripe.payment_status} "
                                   f"({ids}); pay it, then run verify again.")
    if stripe.pending_webhooks:
        why = (f"Stripe still has {stripe.event_id} pending delivery (pending_webhooks={stripe.pending_webhooks}): "
               "the target's webhook is failing; look at the endpoint's delivery attempts in the Dashboard.")
    elif stripe.event_id:
        why = f"Stripe delivered {stripe.event_id} and the target acknowledged it without crediting this buyer"
        if stripe.metadata:
            why += f" (the event's metadata: {', '.join(f'{k}={v}' for k, v in sorted(stripe.metadata.items()))})"
        if ledger == []:
            why += ("; the buyer's ledger has no entry for this payment either, so the target credited another "
                    "account or none: check how it maps the event to an account.")
        elif ledger:
            why += f"; yet the buyer's ledger mentions it: {json.dumps(ledger[0], default=str)[:200]}."
        else:
            why += "."
    else:
        why = "Stripe has no crediting event for it yet."
    return Verdict("paid_not_credited", f"Paid but not credited after {deadline:g}s (still {seen}, expected {expected}; {ids}). {why}")


@dataclass
class PayResult:
    """How the pay phase ended, and by which payer."""

    status: str  # "succeeded" | "declined" | "failed" | "timeout"
    payer: str
    message: str
    artifacts: list[Path]


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
        result = _pay_browser(receipt, settings, card, three_ds, headless, redactor)
        if result.status == "failed" and fallback == "api":
            print(f"The page could not be automated ({result.message}); paying through the API instead (--fallback api).", file=out)
            result = _pay_api(receipt, settings, card, payer="api (fallback)")
    elif via == "api":
        result = _pay_api(receipt, settings, card)
    else:
        result = _pay_person(receipt, settings, deadline, out, redactor)
    status = {"succeeded": "paid", "declined": "declined"}.get(result.status, "pay_failed")
    receipt.record(f"pay ({result.payer})", status, result.message, redactor)
    save(receipt, Path(receipt_path))
    print(f"pay ({result.payer}): {result.status}: {result.message}", file=out)
    for artifact in result.artifacts:
        print(f"  saved {artifact}", file=out)
    return result


def _pay_browser(receipt: Receipt, settings: Settings, card: str, three_ds: str, headless: bool,
                 redactor: Redactor) -> PayResult:
    from smoke.checkout.driver import pay as drive

    artifacts = Path(settings.reports_dir) / "artifacts" / receipt.receipt_id
    outcome = drive(receipt.checkout_url or "", card=card, email=receipt.buyer or None, three_ds=three_ds,
                    timeout=max(30.0, settings.timeout * 3), artifacts_dir=artifacts, headless=headless, redactor=redactor)
    return PayResult(outcome.status, "browser", redactor.redact(outcome.message or outcome.status),
                     list(outcome.artifacts))


def _pay_api(receipt: Receipt, settings: Settings, card: str, payer: str = "api") -> PayResult:
    from smoke.stripe_api import client, pay_session

    if not settings.stripe_api_key:
        raise ConfigError("The API payer needs a Stripe test key: set STRIPE_API_KEY to the sk_test_… key of the "
                          "account the target uses.")
    stripe_client = client(settings.stripe_api_key, settings.stripe_api_base or receipt.stripe_api_base)
    paid = pay_session(stripe_client, receipt.session_id or "", card, receipt.buyer or None)
    status = {"succeeded": "succeeded", "declined": "declined"}.get(paid.status, "failed")
    return PayResult(status, payer, paid.message, [])


def _pay_person(receipt: Receipt, settings: Settings, deadline: float, out: Any, redactor: Redactor) -> PayResult:
    import os

    url_file = receipts_dir(settings) / f"{receipt.receipt_id}.url"
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text((receipt.checkout_url or "") + "\n", encoding="utf-8")
    print(f"Open this URL in a browser and pay with a test card (4242 4242 4242 4242, any future date, any CVC):\n"
          f"{receipt.checkout_url}\n(also in {url_file})", file=out, flush=True)
    if os.environ.get("SMOKE_OPEN_CHECKOUT_URL", "").lower() in ("1", "true", "yes"):
        open_in_browser(receipt.checkout_url or "")
    stripe_client = None
    if settings.stripe_api_key and receipt.session_id:
        from smoke.stripe_api import client

        stripe_client = client(settings.stripe_api_key, settings.stripe_api_base or receipt.stripe_api_base)
    target = _restore(receipt, settings, redactor)
    effect = Effect(delta=receipt.effect["delta"]) if "delta" in receipt.effect else Effect(to=receipt.effect.get("to"))
    # A terminal gets one line rewritten in place; a log gets a line every PROGRESS_EVERY seconds.
    watch = _Watch(out, "waiting for payment", deadline, describe=lambda v: _credit_text(effect, receipt.baseline, v),
                   redactor=redactor, stripe_client=stripe_client, session_id=receipt.session_id or "",
                   credit_event=target.profile.credit_event,
                   created_after=int(datetime.fromisoformat(receipt.created_at).timestamp()))
    try:
        watch.start()
        outcome = wait_for(watch.reading(target.read_state),
                           lambda v: watch.paid or _judge(effect, receipt.baseline, v) is not None,
                           deadline, start=0.5, cap=2.0, stop=lambda _v: watch.ended)
    finally:
        watch.stop()
        target.close()
    if outcome.ok:
        return PayResult("succeeded", "person", "paid by a person", [])
    if watch.error is not None:
        raise watch.error
    line = watch.status()
    if watch.expired:
        return PayResult("failed", "person", f"the Checkout Session expired before anyone paid it ({line}); start a "
                                             "new payment with 'stripe-smoke checkout create'", [])
    return PayResult("timeout", "person", f"not paid within {deadline:g}s ({line})", [])
