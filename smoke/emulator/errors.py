"""Stripe error objects: ``{"error": {"type", "code", "message", "param", …}}`` with Stripe's HTTP codes."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeApiError(Exception):
    """An API error answered the way Stripe answers it."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param, self.extra = status, type_, message, code, param, extra

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update({k: v for k, v in self.extra.items() if v is not None})
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> StripeApiError:
    """An ``invalid_request_error`` (400 unless told)."""
    return StripeApiError(status, "invalid_request_error", message, code=code, param=param)


def missing(param: str) -> StripeApiError:
    """A required parameter is absent."""
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def no_such(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    """404 for an unknown object, worded as Stripe words it."""
    return invalid(f"No such {kind}: '{object_id}'", param, "resource_missing", 404)


def card_error(message: str, code: str, decline_code: str | None = None, **extra: Any) -> StripeApiError:
    """402 ``card_error`` (a decline); ``extra`` carries ``payment_intent``, ``charge``, ``payment_method``."""
    return StripeApiError(402, "card_error", message, code=code, decline_code=decline_code, **extra)


def auth_error(message: str) -> StripeApiError:
    """401 for a missing, malformed or refused API key."""
    return StripeApiError(401, "invalid_request_error", message)
