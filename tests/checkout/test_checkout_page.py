"""The emulator's hosted page as an automation sees it: the selectors, states and hazards of SELECTORS.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smoke.emulator.page import format_amount

from _wait import wait_until


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own context."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (500, "usd", "$5.00"), (123456, "eur", "€1,234.56"), (1000, "jpy", "¥1,000"), (500, "chf", "CHF 5.00")])
def test_amounts_are_formatted_like_the_pay_button(amount, currency, shown):
    assert format_amount(amount, currency) == shown


def test_unknown_session_is_something_went_wrong(emulator):
    answer = httpx.get(f"{emulator.url}/c/pay/cs_test_nope", timeout=10)
    assert answer.status_code == 404 and "Something went wrong" in answer.text


def test_accordion_hides_the_card_until_chosen_and_its_button_is_0x0(page, make_session):
    page.goto(make_session("accordion").url)
    item = page.locator('[data-testid="card-accordion-item"]')
    assert page.locator('[data-testid="card-accordion-item-button"]').bounding_box()["width"] == 0
    radio = page.locator('input[name="payment-method-accordion-item-title"][value="card"]')
    assert radio.get_attribute("id") == "payment-method-accordion-item-title-card"
    assert not page.locator("#cardNumber").is_visible()
    item.click()
    page.locator("#cardNumber").wait_for(state="visible", timeout=5000)
    assert radio.is_checked()
    assert page.locator("#cardNumber").get_attribute("placeholder") == "1234 1234 1234 1234"
    assert page.locator("#cardNumber").get_attribute("autocomplete") == "cc-number"
    assert page.locator("#cardExpiry").get_attribute("placeholder") == "MM / YY"
    assert page.locator("#cardCvc").get_attribute("placeholder") == "CVC"
    assert page.get_by_label("Name on card").get_attribute("id") == "billingName"
    assert page.get_by_label("Country or region").get_attribute("id") == "billingCountry"


def test_pay_button_waits_for_the_animation_then_says_pay(page, make_session):
    page.goto(make_session("card").url)
    button = page.locator('[data-testid="hosted-payment-submit-button"]')
    assert "SubmitButton" in button.get_attribute("class")
    wait_until(button.is_enabled, 5)
    assert button.inner_text().strip() == "Pay $5.00"


def test_postal_code_only_for_some_countries(page, make_session):
    page.goto(make_session("card").url)
    page.select_option("#billingCountry", "IE")
    assert not page.locator("#billingPostalCode").is_visible()
    page.select_option("#billingCountry", "US")
    assert page.locator("#billingPostalCode").is_visible()


def test_link_is_hidden_checked_and_pay_then_demands_a_phone(page, emulator, make_session):
    session = make_session("card")
    page.goto(session.url)
    box = page.locator("#enableStripePass")
    assert box.is_checked() and not box.is_visible()
    page.fill("#email", "buyer@example.com")
    page.fill("#cardNumber", "4242424242424242")
    page.fill("#cardExpiry", "1234")
    page.fill("#cardCvc", "123")
    page.fill("#billingName", "Smoke Test")
    page.select_option("#billingCountry", "US")
    page.fill("#billingPostalCode", "42424")
    button = page.locator('[data-testid="hosted-payment-submit-button"]')
    wait_until(button.is_enabled, 5)
    button.click()
    error = page.locator('[role="alert"]').filter(has_text="phone number")
    error.wait_for(state="visible", timeout=5000)
    assert page.locator('[name="phoneNumber"]').is_visible()
    assert emulator.store.get_session(session.id)["status"] == "open"
    page.click('label[for="enableStripePass"]')
    assert not box.is_checked() and not page.locator('[name="phoneNumber"]').is_visible()


def test_the_iframe_layout_nests_its_fields_two_frames_deep(page, make_session):
    page.goto(make_session("iframe").url)
    inner = page.frame_locator('iframe[name^="__privateStripeFrame"]').frame_locator("iframe")
    field = inner.locator('[data-elements-stable-field-name="cardNumber"]')
    inner.locator('[data-testid="card-accordion-item"]').click()
    field.wait_for(state="visible", timeout=5000)
    assert inner.get_by_label("Full name on card").count() == 1
    assert page.locator("#cardNumber").count() == 0


def test_embedded_checkout_lives_in_its_named_frame(page, make_session):
    page.goto(make_session("embedded").url)
    frame = page.frame_locator('iframe[name="embedded-checkout"]')
    frame.locator('[data-testid="card-accordion-item"]').wait_for(timeout=5000)
    assert page.locator('[data-testid="card-accordion-item"]').count() == 0


def test_legacy_page_wants_pay_with_card_first(page, make_session):
    page.goto(make_session("legacy").url)
    assert not page.locator("#cardNumber").is_visible()
    page.get_by_role("button", name="Pay with card").click()
    page.locator("#cardNumber").wait_for(state="visible", timeout=5000)


def _fill_card_layout(page: Any, card: str) -> None:
    page.fill("#email", "buyer@example.com")
    page.fill("#cardNumber", card)
    page.fill("#cardExpiry", "1234")
    page.fill("#cardCvc", "123")
    page.fill("#billingName", "Smoke Test")
    page.select_option("#billingCountry", "IE")
    page.click('label[for="enableStripePass"]')


@pytest.mark.parametrize("challenge", ["current", "legacy"])
def test_3ds_challenge_frames_nest_as_on_the_real_page(challenge, page, emulator, make_session):
    page.goto(make_session("card", challenge=challenge).url)
    _fill_card_layout(page, "4000002500003155")
    page.click('[data-testid="hosted-payment-submit-button"]')
    if challenge == "current":
        outer = page.locator(f'iframe[src^="{emulator.url}/v3/three-ds-2-challenge"]')
        outer.wait_for(timeout=5000)
        buttons = page.frame_locator(f'iframe[src^="{emulator.url}/v3/three-ds-2-challenge"]') \
            .frame_locator('iframe[name="challengeFrame"]')
    else:
        page.locator('iframe[name^="__privateStripeFrame"]').wait_for(timeout=5000)
        buttons = page.frame_locator('iframe[name^="__privateStripeFrame"]').frame_locator("#challengeFrame") \
            .frame_locator('iframe[name="acsFrame"]')
    buttons.locator("#test-source-authorize-3ds").wait_for(timeout=5000)
    assert buttons.locator("#test-source-fail-3ds").count() == 1


def test_botcheck_layout_from_the_session_metadata(emulator, make_session):
    session = make_session("botcheck")
    answer = httpx.get(session.url.split("#")[0], timeout=10)
    assert "hCaptcha" in answer.text and 'id="cardNumber"' not in answer.text
