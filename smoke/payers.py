"""Who pays a Checkout Session: a browser (Playwright), Stripe's API in test mode, or a person at the printed URL."""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from smoke.checkout_verdicts import credit_text, judge
from smoke.config import Settings
from smoke.effects import Effect
from smoke.errors import ConfigError
from smoke.receipt_client import receipts_dir, restore
from smoke.receipts import Receipt
from smoke.redact import Redactor
from smoke.verify_progress import Watch
from smoke.waiting import wait_for


@dataclass
class PayResult:
    """How the pay phase ended, and by which payer."""

    status: str  # "succeeded" | "declined" | "failed" | "timeout"
    payer: str
    message: str
    artifacts: list[Path]


def open_in_browser(url: str) -> None:
    """Open the checkout URL in the user's browser (SMOKE_OPEN_CHECKOUT_URL=true)."""
    webbrowser.open(url, new=2)


def pay_browser(receipt: Receipt, settings: Settings, card: str, three_ds: str, headless: bool,
                 redactor: Redactor) -> PayResult:
    """Pay on the hosted page with Playwright; a page that could not be automated leaves its evidence saved."""
    from smoke.checkout.driver import pay as drive

    artifacts = Path(settings.reports_dir) / "artifacts" / receipt.receipt_id
    outcome = drive(receipt.checkout_url or "", card=card, email=receipt.buyer or None, three_ds=three_ds,
                    timeout=max(30.0, settings.timeout * 3), artifacts_dir=artifacts, headless=headless, redactor=redactor)
    return PayResult(outcome.status, "browser", redactor.redact(outcome.message or outcome.status),
                     list(outcome.artifacts))


def pay_api(receipt: Receipt, settings: Settings, card: str, payer: str = "api") -> PayResult:
    """Pay through Stripe's API in test mode (needs STRIPE_API_KEY), as ``payer``."""
    from smoke.stripe_api import client, pay_session

    if not settings.stripe_api_key:
        raise ConfigError("The API payer needs a Stripe test key: set STRIPE_API_KEY to the sk_test_… key of the "
                          "account the target uses.")
    stripe_client = client(settings.stripe_api_key, settings.stripe_api_base or receipt.stripe_api_base)
    paid = pay_session(stripe_client, receipt.session_id or "", card, receipt.buyer or None)
    status = {"succeeded": "succeeded", "declined": "declined"}.get(paid.status, "failed")
    return PayResult(status, payer, paid.message, [])


def pay_person(receipt: Receipt, settings: Settings, deadline: float, out: Any, redactor: Redactor) -> PayResult:
    """Print the URL for a person to pay, then wait (a status line) until Stripe says paid or the credit shows."""
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
    target = restore(receipt, settings, redactor)
    effect = Effect(delta=receipt.effect["delta"]) if "delta" in receipt.effect else Effect(to=receipt.effect.get("to"))
    # A terminal gets one line rewritten in place; a log gets a line every PROGRESS_EVERY seconds.
    watch = Watch(out, "waiting for payment", deadline, describe=lambda v: credit_text(effect, receipt.baseline, v),
                   redactor=redactor, stripe_client=stripe_client, session_id=receipt.session_id or "",
                   credit_event=target.profile.credit_event,
                   created_after=int(datetime.fromisoformat(receipt.created_at).timestamp()))
    try:
        watch.start()
        outcome = wait_for(watch.reading(target.read_state),
                           lambda v: watch.paid or judge(effect, receipt.baseline, v) is not None,
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
