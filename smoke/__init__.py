"""stripe-smoke: prove that a billing API credits buyers correctly from Stripe payments."""

__version__ = "0.1.0"
