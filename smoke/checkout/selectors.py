"""Every selector seen on Stripe-hosted Checkout, per field (see docs: the page changes, so the driver searches)."""

from __future__ import annotations

import re

# CSS selector lists, tried in every frame; the first visible match wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("#email", 'input[name="email"]', '[autocomplete="email"]'),
    "card_number": ("#cardNumber", '[name="cardNumber"]', '[name="cardnumber"]', '[autocomplete="cc-number"]',
                    '[data-elements-stable-field-name="cardNumber"]', 'input[placeholder="1234 1234 1234 1234"]'),
    "expiry": ("#cardExpiry", '[name="cardExpiry"]', '[autocomplete="cc-exp"]',
               '[data-elements-stable-field-name="cardExpiry"]', 'input[placeholder="MM / YY"]'),
    "cvc": ("#cardCvc", '[name="cardCvc"]', '[autocomplete="cc-csc"]', '[data-elements-stable-field-name="cardCvc"]',
            'input[placeholder="CVC"]'),
    "name": ("#billingName", '[name="billingName"]', '[autocomplete="cc-name"]',
             'input[placeholder="First and last name"]'),
    "country": ("#billingCountry", 'select[name="billingCountry"]', 'select[autocomplete="billing country"]',
                'select[autocomplete="country"]'),
    "postal_code": ("#billingPostalCode", '[name="billingPostalCode"]', '[autocomplete="billing postal-code"]',
                    '[autocomplete="postal-code"]'),
    "address_line1": ("#billingAddressLine1", '[autocomplete="billing address-line1"]'),
    "locality": ("#billingLocality", '[autocomplete="billing address-level2"]'),
    "phone": ('[name="phoneNumber"]', '[autocomplete="tel"]'),
    "link_checkbox": ("#enableStripePass",),
    "link_label": ('label[for="enableStripePass"]',),
    "pay": ('[data-testid="hosted-payment-submit-button"]', "button.SubmitButton",
            'button[type="submit"]:has-text("Pay")'),
    "complete": (".SubmitButton--complete",),
    "card_item": ('[data-testid="card-accordion-item"]',),
    "card_radio": ('input[name="payment-method-accordion-item-title"][value="card"]',
                   "#payment-method-accordion-item-title-card"),
    "pay_with_card": ('button:has-text("Pay with card")', '[role="button"]:has-text("Pay with card")'),
    "authorize_3ds": ("#test-source-authorize-3ds",),
    "fail_3ds": ("#test-source-fail-3ds",),
    "alert": ('[role="alert"]', ".FieldError"),
    "captcha": ('iframe[src*="hcaptcha"]', 'iframe[title*="hCaptcha"]', 'iframe[src*="recaptcha"]',
                'iframe[src*="challenges.cloudflare.com"]'),
}
# Fields also found by their accessible name, which changes between page versions.
LABELS: dict[str, re.Pattern[str]] = {
    "name": re.compile(r"^\s*(cardholder name|name on card|full name on card)\s*$", re.I),
    "country": re.compile(r"^\s*country( or region)?\s*$", re.I),
}
# Frame markers: where the 3D Secure challenge lives (for messages; buttons are found wherever they are).
CHALLENGE_FRAMES = {
    "current": ('iframe[src*="three-ds-2-challenge"]', 'iframe[name="challengeFrame"]',
                'iframe[name="stripe-challenge-frame"]'),
    "legacy": ('iframe[name^="__privateStripeFrame"]', "iframe#challengeFrame", 'iframe[name="acsFrame"]'),
}
# Text of pages that will never show a card form.
DEAD_ENDS = re.compile(r"(no longer active|something went wrong|^\s*not found\s*$|page you were looking for could "
                       r"not be found|session has expired)", re.I | re.M)
# Alert text that means the card was refused (anything else is the form refusing our input).
DECLINE_TEXT = re.compile(r"(declined|insufficient funds|unable to authenticate|authentication (failed|was not)|"
                          r"card has expired|do not honou?r|lost card|stolen card)", re.I)


def css(field: str) -> str:
    """All selectors of ``field`` as one CSS selector list."""
    return ", ".join(FIELDS[field])
