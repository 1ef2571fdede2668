"""Preflight: the target answers, its webhook route exists, and the secret looks right."""

from __future__ import annotations

from smoke.checks import fail
from smoke.signing import SECRET_PREFIX
from smoke.target import TargetClient


def test_api_answers(smoke_target: TargetClient) -> None:
    """The API's health route (or base URL) answers without a server error."""
    response = smoke_target.health()
    if response.status_code >= 500 or response.status_code == 404:
        fail(f"{smoke_target.base_url} answered {response.status_code} to its health check; "
             "check --base-url and [target].health in the profile.")


def test_webhook_route_exists(smoke_target: TargetClient) -> None:
    """An unsigned POST to the webhook route is refused with a 4xx: the route exists and checks signatures."""
    path = smoke_target.profile.webhook_path
    response = smoke_target.request("POST", path, step="preflight", content=b"{}",
                                    headers={"Content-Type": smoke_target.profile.content_type})
    if response.status_code in (404, 405):
        fail(f"POST {path} answered {response.status_code}: there is no webhook route there; fix [webhook].path.")
    if response.status_code >= 500:
        fail(f"POST {path} answered {response.status_code} to an unsigned request: it should refuse it with a 4xx.")
    if response.status_code < 400:
        fail(f"POST {path} answered {response.status_code} to an unsigned request: the webhook accepts events "
             "that Stripe did not sign.")


def test_webhook_secret_looks_right(smoke_target: TargetClient) -> None:
    """The signing secret in use is an endpoint secret (whsec_…), not an API key."""
    secret = smoke_target.webhook_secret or ""
    if not secret.startswith(SECRET_PREFIX):
        fail("The webhook secret does not start with whsec_: set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret.")
