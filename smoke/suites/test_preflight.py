"""Preflight: the target answers, its webhook route exists, and the secret looks right."""

from __future__ import annotations

from smoke.checks import Smoke, conclude, fail
from smoke.signing import SECRET_PREFIX
from smoke.target import TargetClient


def test_api_answers(smoke_target: TargetClient) -> None:
    """The API's health route (or base URL) answers without a server error."""
    response = smoke_target.health()
    if response.status_code >= 500 or response.status_code == 404:
        fail(f"{smoke_target.base_url} answered {response.status_code} to its health check; "
             "check --base-url and [target].health in the profile.", "health")


def test_webhook_route_exists(smoke: Smoke) -> None:
    """An unsigned POST to the webhook route is answered, not a 404 or a redirect, and does not crash it."""
    assert smoke.foundations is not None
    conclude(smoke.foundations.finding("route", smoke))
    path = smoke.target.profile.webhook_path
    response = smoke.target.request("POST", path, step="preflight", content=b"{}",
                                    headers={"Content-Type": smoke.target.profile.content_type})
    if response.status_code >= 500:
        fail(f"POST {path} answered {response.status_code} to an unsigned request: the webhook crashes on a "
             "request without a signature; refuse it with a 4xx.", "crashes_on_unsigned")


def test_webhook_secret_looks_right(smoke_target: TargetClient) -> None:
    """The signing secret in use is an endpoint secret (whsec_…), not an API key."""
    secret = smoke_target.webhook_secret or ""
    if not secret.startswith(SECRET_PREFIX):
        fail("The webhook secret does not start with whsec_: set STRIPE_WEBHOOK_SECRET to the endpoint's signing "
             "secret.", "secret_format")
