"""Back to a receipt's target: where receipts are kept, and a client that reads the credit state as its buyer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smoke.profiles import load_profile
from smoke.redact import Redactor, default_redactor
from smoke.steps import register_secrets
from smoke.target import TargetClient, open_target

if TYPE_CHECKING:
    from smoke.config import Settings
    from smoke.receipts import Receipt


def receipts_dir(settings: Settings) -> Path:
    """Where receipts are written."""
    return Path(settings.reports_dir) / "receipts"


def restore(receipt: Receipt, settings: Settings, redactor: Redactor | None = None) -> TargetClient:
    """A client for the receipt's target that knows what create knew (its stored context) and reads as that buyer."""
    profile = load_profile(settings.target if settings.target != "demo" or receipt.target == "demo" else receipt.target)
    client = open_target(profile, receipt.base_url, webhook_secret=None, http_timeout=settings.http_timeout,
                         rate_limit_per_minute=settings.rate_limit, redactor=redactor or default_redactor())
    client.context.restore(receipt.context)  # secret vars were not stored: they keep their value from the environment
    for step in (profile.buyer, *profile.setup):
        if step is not None:
            register_secrets(client.redactor, client.context.result(step.name, {}), step.secrets)
    client.auth_headers()  # registers the bearer token with the redactor
    return client
