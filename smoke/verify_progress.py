"""The progress of a Checkout wait: Stripe asked beside the credit polling, and a status line while it lasts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from smoke.redact import Redactor, default_redactor
from smoke.waiting import RateLimited

# While verify or the person payer waits: a status line this often (seconds), and Stripe asked at most this often.
PROGRESS_EVERY = 2.0
STRIPE_EVERY = 2.0


class Watch:
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

    def start(self) -> Watch:
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
