"""Real Checkout's first two phases (create, pay) started in the background when the session starts.

Paying in a browser is most of a short run's time and waits on nothing the other checks do: the session's buyer is
not the Checkout buyer, and the browser mostly waits for pages. So when a serial run includes
``test_checkout_payment_is_credited`` its create and pay phases start with the session, and the check itself only
collects their outcome and verifies the credit — the same phases, the same verdict, without the wait in series.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smoke.config import Settings
    from smoke.embedded import Embedded
    from smoke.payers import PayResult
    from smoke.profiles import Profile
    from smoke.redact import Redactor

CHECK = "test_checkout_payment_is_credited"


def checkout_settings(settings: Settings, embedded: Embedded | None) -> Settings:
    """The settings the Checkout phases use: against the embedded target, its local Stripe's key and address."""
    if embedded is None:
        return settings
    return dataclasses.replace(settings, stripe_api_key=settings.stripe_api_key or embedded.stripe_api_key,
                               stripe_api_base=settings.stripe_api_base or embedded.stripe_api_base)


def phase_of(settings: Settings, embedded: Embedded | None) -> str:
    """The phase to run: --phase, else ``all`` against the embedded target with its emulator, else ``off``."""
    return settings.phase or ("all" if embedded is not None and embedded.emulator else "off")


def why_not(settings: Settings, profile: Profile, embedded: Embedded | None) -> str | None:
    """Why the Checkout check does not run against this target (its skip reason), or None when it runs."""
    phase = phase_of(settings, embedded)
    if phase == "off":
        return "real Checkout is opt-in against a deployed target: pass --phase all, create-only or verify-only"
    if not profile.can("purchase") and phase != "verify-only":
        return f"the {profile.name} profile cannot start a purchase ([purchase])"
    if profile.purchase is not None and "checkout_url" not in profile.purchase.extract:
        return "the purchase is a bare PaymentIntent, not a Checkout Session: test_payment_intent covers it"
    return None


@dataclasses.dataclass
class Paid:
    """What the create and pay phases did: the receipt, the payer's result and what they printed."""

    receipt_path: Path
    paid: PayResult
    printed: str


def create_and_pay(settings: Settings, base_url: str, redactor: Redactor | None = None) -> Paid:
    """Create the Checkout Session through the target and pay it with ``settings.payer`` (what --phase all does first)."""
    from smoke import phases

    out = io.StringIO()
    _, receipt_path = phases.create(settings, base_url, out=out, redactor=redactor)
    paid = phases.pay(receipt_path, settings, via=settings.payer, card=settings.card, deadline=settings.verify_deadline,
                      out=out, redactor=redactor)
    return Paid(receipt_path, paid, out.getvalue())


class Ahead:
    """The create and pay phases running on a thread of their own; ``result()`` waits for them (or raises their error)."""

    def __init__(self, settings: Settings, base_url: str, redactor: Redactor | None = None) -> None:
        self._future: Future[Paid] = Future()
        self._thread = threading.Thread(target=self._run, args=(settings, base_url, redactor), name="smoke-checkout-ahead",
                                        daemon=True)
        self._thread.start()

    def _run(self, settings: Settings, base_url: str, redactor: Redactor | None) -> None:
        try:
            self._future.set_result(create_and_pay(settings, base_url, redactor))
        except BaseException as exc:  # noqa: BLE001 - handed to the check, which raises it as its own
            self._future.set_exception(exc)

    def result(self, timeout: float | None = None) -> Paid:
        """The phases' outcome, waiting up to ``timeout`` seconds for them to finish."""
        return self._future.result(timeout)

    def wait(self, timeout: float) -> None:
        """Let the phases finish (within ``timeout`` s) so the session's servers outlive the browser that uses them."""
        self._thread.join(timeout)
