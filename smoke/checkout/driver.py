"""Pay a Stripe-hosted Checkout page with a test card, searching every frame for what the page version offers."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from smoke.checkout import artifacts
from smoke.checkout.selectors import CHALLENGE_FRAMES, DEAD_ENDS, DECLINE_TEXT, LABELS, css
from smoke.redact import Redactor, default_redactor

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Frame, Locator, Page

EXPIRY = "12 / 34"
CVC = "123"
ADDRESS = {"address_line1": "354 Oyster Point Blvd", "locality": "South San Francisco"}
VERIFY_HINT = ("Finish the payment by hand: open the checkout URL in a browser, pay with the test card {card}, "
               "then run `stripe-smoke checkout verify --receipt FILE`.")


@dataclass
class PayOutcome:
    """What became of one attempt to pay a Checkout page."""

    status: str  # "succeeded" | "declined" | "failed"
    message: str
    final_url: str
    artifacts: list[Path] = field(default_factory=list)
    challenged: bool = False  # a 3D Secure challenge was answered


class Stuck(Exception):
    """The driver cannot go on; the message says what it saw."""


@dataclass
class _Run:
    page: Page
    card: str
    deadline: float
    start_url: str
    success_url_prefix: str | None
    mask: list[Locator] = field(default_factory=list)
    challenged: bool = False
    alerts_before_pay: set[str] = field(default_factory=set)
    redactor: Redactor = field(default_factory=default_redactor)  # the run's: what it knows is masked in the evidence

    def remaining_ms(self, cap: float = 10.0) -> float:
        """Milliseconds left before the deadline, at most ``cap`` seconds, at least 1."""
        return max(1.0, min(cap, self.deadline - time.monotonic()) * 1000)

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def pause(self, seconds: float) -> None:
        """Let the page run for a moment (Playwright's own wait keeps its event loop turning)."""
        self.page.wait_for_timeout(max(1.0, min(seconds, self.deadline - time.monotonic()) * 1000))


def _frames(page: Page) -> list[Frame]:
    return [f for f in page.frames if not f.is_detached()]


def find(page: Page, name: str, *, visible: bool = True) -> Locator | None:
    """The first element for field ``name`` in the top document or any frame at any depth, or None."""
    from playwright.sync_api import Error as PlaywrightError

    for frame in _frames(page):
        locator = frame.locator(css(name))
        if name in LABELS:
            locator = locator.or_(frame.get_by_label(LABELS[name]))
        if visible:
            locator = locator.filter(visible=True)
        try:
            if locator.count():
                return locator.first
        except PlaywrightError:
            continue  # the frame navigated away while we looked
    return None


def _texts(page: Page, name: str) -> list[str]:
    """Visible, non-empty texts of every element of ``name`` in every frame."""
    from playwright.sync_api import Error as PlaywrightError

    found = []
    for frame in _frames(page):
        try:
            found += [t.strip() for t in frame.locator(css(name)).filter(visible=True).all_inner_texts() if t.strip()]
        except PlaywrightError:
            continue
    return found


def _dead_end(page: Page) -> str | None:
    """Why this page can never show a card form (bot check, error page), or None."""
    from playwright.sync_api import Error as PlaywrightError

    if find(page, "captcha") is not None:
        return "the page shows a bot check (hCaptcha) instead of the card form"
    for frame in _frames(page):
        try:
            text = frame.locator("body").inner_text(timeout=1000)
        except PlaywrightError:
            continue
        if DEAD_ENDS.search(text):
            return f"the page says {' '.join(text.split())[:200]!r}"
    return None


def _click(locator: Locator, run: _Run) -> None:
    """Click, and when animations or overlays defeat a real click, dispatch the click event instead."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        locator.click(timeout=min(5000.0, run.remaining_ms()))
    except PlaywrightError:
        locator.dispatch_event("click", timeout=run.remaining_ms())


def _reveal_card_form(run: _Run, tried: set[str]) -> None:
    """Choose the card among payment methods (accordion item or radio), or press "Pay with card"."""
    from playwright.sync_api import Error as PlaywrightError

    item = find(run.page, "card_item")
    radio = find(run.page, "card_radio", visible=False)
    try:
        if item is not None:
            # The item, not its inner button: that one is often 0x0 and a click on it never lands.
            _click(item, run)
            tried.add("card_item")
        elif radio is not None:
            if radio.is_visible():
                _click(radio, run)
            else:
                radio.check(force=True, timeout=run.remaining_ms(3))
            tried.add("card_radio")
        elif (button := find(run.page, "pay_with_card")) is not None:
            _click(button, run)
            tried.add("pay_with_card")
    except PlaywrightError:
        pass  # the page re-rendered under us; the next round looks again


def _card_form(run: _Run) -> Locator:
    """Wait for a visible card-number field, revealing it when the layout hides it; Stuck when it never comes."""
    tried: set[str] = set()
    delay = 0.05
    while True:
        card = find(run.page, "card_number")
        if card is not None:
            return card
        reason = _dead_end(run.page)
        if reason:
            raise Stuck(reason)
        if run.expired():
            seen = f" (tried: {', '.join(sorted(tried))})" if tried else ""
            raise Stuck(f"no card number field appeared in any frame{seen}: the page layout is not one the driver knows")
        _reveal_card_form(run, tried)
        run.pause(delay)
        delay = min(delay * 1.6, 0.5)


def _type(locator: Locator, text: str, run: _Run) -> None:
    """Type like a person (the fields format as you type); fall back to fill when the digits did not land."""
    _click(locator, run)
    locator.fill("", timeout=run.remaining_ms())
    locator.press_sequentially(text, delay=10, timeout=run.remaining_ms(30))
    if re.sub(r"\D", "", locator.input_value(timeout=run.remaining_ms(5))) != re.sub(r"\D", "", text):
        locator.fill(text, timeout=run.remaining_ms())


def _fill_if_visible(run: _Run, name: str, value: str, *, only_empty: bool = True) -> bool:
    locator = find(run.page, name)
    if locator is None or not locator.is_editable(timeout=run.remaining_ms(5)):
        return False
    if only_empty and locator.input_value(timeout=run.remaining_ms(5)).strip():
        return True
    locator.fill(value, timeout=run.remaining_ms())
    return True


def _untick_link(run: _Run) -> None:
    """Untick Link's "save my information" (a hidden box, toggled through its label) or Pay wants a phone number."""
    box = find(run.page, "link_checkbox", visible=False)
    if box is None or not box.is_checked(timeout=run.remaining_ms(5)):
        return
    label = find(run.page, "link_label")
    for attempt in range(3):
        if label is not None and attempt < 2:
            _click(label, run)
        else:
            box.dispatch_event("click", timeout=run.remaining_ms(5))
        if not box.is_checked(timeout=run.remaining_ms(5)):
            return
        run.pause(0.1)


def _fill_form(run: _Run, card_field: Locator, *, card: str, email: str | None, name: str, country: str,
               postal_code: str) -> None:
    """Fill every field the page shows, in the order a person would."""
    _fill_if_visible(run, "email", email or f"smoke+{secrets.token_hex(4)}@example.com")
    run.mask.append(card_field)
    _type(card_field, card, run)
    expiry = find(run.page, "expiry")
    if expiry is None:
        raise Stuck("the card number field was found but no expiry field")
    _type(expiry, EXPIRY, run)
    cvc = find(run.page, "cvc")
    if cvc is None:
        raise Stuck("the card number field was found but no CVC field")
    run.mask.append(cvc)
    _type(cvc, CVC, run)
    _fill_if_visible(run, "name", name)
    select = find(run.page, "country")
    if select is not None and country:
        try:
            select.select_option(value=country, timeout=run.remaining_ms(3))
        except Exception:  # noqa: BLE001 - some pages use the country's name as the value
            select.select_option(label=country, timeout=run.remaining_ms(3))
    # The postal code field comes and goes with the country; give it a moment to appear.
    until = time.monotonic() + 1.0
    while not _fill_if_visible(run, "postal_code", postal_code) and time.monotonic() < until:
        run.pause(0.1)
    for key, value in ADDRESS.items():
        _fill_if_visible(run, key, value)
    _untick_link(run)


def _press_pay(run: _Run) -> None:
    """Wait for the Pay button to be enabled (the form animates in), then click it robustly."""
    delay = 0.05
    while True:
        button = find(run.page, "pay")
        if button is not None and button.is_enabled(timeout=run.remaining_ms(5)):
            run.alerts_before_pay = set(_texts(run.page, "alert"))
            _click(button, run)
            return
        if run.expired():
            raise Stuck("the Pay button never became enabled" if button else "no Pay button was found in any frame")
        run.pause(delay)
        delay = min(delay * 1.6, 0.5)


def _left_checkout(run: _Run) -> bool:
    url = run.page.url
    if run.success_url_prefix:
        return url.startswith(run.success_url_prefix)
    here, start = urlsplit(url), urlsplit(run.start_url)
    return url not in ("", "about:blank") and ((here.scheme, here.netloc, here.path) != (start.scheme, start.netloc, start.path))


def _challenge_kind(page: Page) -> str:
    for kind, selectors in CHALLENGE_FRAMES.items():
        for frame in _frames(page):
            if frame.locator(selectors[0]).count():
                return kind
    return "unknown"


def _answer_challenge(run: _Run, three_ds: str) -> bool:
    """Click Complete or Fail on a visible 3D Secure test challenge; True when there was one."""
    button = find(run.page, "authorize_3ds" if three_ds == "complete" else "fail_3ds")
    if button is None:
        return False
    _click(button, run)
    run.challenged = True
    return True


def _outcome(run: _Run, three_ds: str) -> tuple[str, str]:
    """Wait for success (leaving for the success URL, or the complete button), a decline, or a dead end."""
    delay, kind = 0.05, ""
    completed_at: float | None = None
    clicked_at = -10.0
    while True:
        if _left_checkout(run):
            return "succeeded", "paid; the page went to the success URL" + (f" ({kind} 3D Secure nesting)" if kind else "")
        if completed_at is None and find(run.page, "complete") is not None:
            completed_at = time.monotonic()
        if completed_at is not None and time.monotonic() - completed_at > 10:
            return "succeeded", "paid; the Pay button shows success but the page did not go to a success URL"
        if completed_at is None:
            # A challenge still showing 3s after our click gets another one (the first may have hit an animation).
            if time.monotonic() - clicked_at > 3 and find(run.page, "authorize_3ds") is not None:
                kind = kind or _challenge_kind(run.page)
                if _answer_challenge(run, three_ds):
                    clicked_at = time.monotonic()
            alerts = [text for text in _texts(run.page, "alert") if text not in run.alerts_before_pay]
            if alerts:
                message = " ".join(dict.fromkeys(alerts))
                if DECLINE_TEXT.search(message):
                    return "declined", message
                raise Stuck(f"the page refused the form: {message}")
            if find(run.page, "captcha") is not None:
                raise Stuck("a bot check (hCaptcha) appeared after Pay was pressed")
        if run.expired():
            raise Stuck("no outcome after Pay was pressed: neither the success URL, a success state nor a decline")
        run.pause(delay)
        delay = min(delay * 1.6, 0.4)


def _drive(run: _Run, *, card: str, email: str | None, name: str, country: str, postal_code: str,
           three_ds: str) -> tuple[str, str]:
    card_field = _card_form(run)
    _fill_form(run, card_field, card=card, email=email, name=name, country=country, postal_code=postal_code)
    _press_pay(run)
    status, message = _outcome(run, three_ds)
    if run.challenged:
        message += f" (3D Secure challenge answered: {three_ds})"
    return status, message


def pay(url: str, *, card: str = "4242424242424242", email: str | None = None, name: str = "Smoke Test",
        country: str = "US", postal_code: str = "42424", three_ds: str = "complete", timeout: float = 60,
        artifacts_dir: Path = Path("reports/artifacts/checkout"), headless: bool = True,
        success_url_prefix: str | None = None, browser: Browser | None = None,
        redactor: Redactor | None = None) -> PayOutcome:
    """Pay the Checkout page at ``url`` (fragment included) in ``browser`` or a Chromium of its own; evidence on failure."""
    if three_ds not in ("complete", "fail"):
        raise ValueError("three_ds must be 'complete' or 'fail'")
    digits = re.sub(r"\D", "", card)
    if browser is None:
        # A thread of its own: Playwright's sync API refuses a thread that already runs an event loop or another
        # Playwright (an async caller, a test session's browser), and a fresh thread has neither.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkout-driver") as pool:
            return pool.submit(_pay_in_own_browser, headless, url, digits, email, name, country, postal_code,
                               three_ds, timeout, Path(artifacts_dir), success_url_prefix, redactor).result()
    return _pay_in(browser, url, digits, email, name, country, postal_code, three_ds, timeout,
                   Path(artifacts_dir), success_url_prefix, redactor)


def _pay_in_own_browser(headless: bool, *args: Any) -> PayOutcome:
    from smoke.checkout.browser import open_browser

    with open_browser(headless=headless) as own:
        return _pay_in(own, *args)


def _pay_in(browser: Browser, url: str, card: str, email: str | None, name: str, country: str, postal_code: str,
            three_ds: str, timeout: float, artifacts_dir: Path, success_url_prefix: str | None,
            redactor: Redactor | None = None) -> PayOutcome:
    from playwright.sync_api import Error as PlaywrightError

    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    # DOM snapshots, no screencast: snapshot text can be scrubbed of the card number, pictures cannot.
    context.tracing.start(screenshots=False, snapshots=True, sources=False)
    page = context.new_page()
    run = _Run(page=page, card=card, deadline=time.monotonic() + timeout, start_url=url,
               success_url_prefix=success_url_prefix, redactor=redactor or default_redactor())
    try:
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=run.remaining_ms(30))
            status, message = _drive(run, card=card, email=email, name=name, country=country,
                                     postal_code=postal_code, three_ds=three_ds)
        except Stuck as exc:
            return _failed(run, context, str(exc), artifacts_dir)
        except PlaywrightError as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return _failed(run, context, f"the browser reported: {first_line}", artifacts_dir)
        context.tracing.stop()
        return PayOutcome(status, artifacts.scrub(message, card, run.redactor), page.url, [], run.challenged)
    finally:
        context.close()


def _failed(run: _Run, context: BrowserContext, reason: str, artifacts_dir: Path) -> PayOutcome:
    final_url = run.page.url if not run.page.is_closed() else ""
    saved = artifacts.save(run.page, context, artifacts_dir, run.card, run.mask, run.redactor)
    where = f" Saved in {artifacts_dir}: {', '.join(p.name for p in saved)}." if saved else ""
    message = (f"Could not pay the Checkout page: {reason}.{where} "
               + VERIFY_HINT.format(card=artifacts.mask_card(run.card)))
    return PayOutcome("failed", artifacts.scrub(message, run.card, run.redactor), final_url, saved,
                      run.challenged)
