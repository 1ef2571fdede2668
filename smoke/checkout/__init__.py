"""Pay a Stripe-hosted Checkout page with Playwright (checkout.stripe.com or the local emulator's copy).

Nothing here imports Playwright until a browser is actually needed: ``from smoke.checkout.driver import pay``.
"""
