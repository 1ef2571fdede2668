"""A deployed demo target as the Checkout phases' tests aim at it: its settings, a CI job's environment, a receipt."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from smoke import phases
from smoke.config import Settings, resolve_settings
from smoke.embedded import Embedded

CLI = [sys.executable, "-m", "smoke.cli"]


def settings_for(running: Embedded, reports: Path) -> Settings:
    """The settings a user of that deployed target would give (nothing from this machine's environment)."""
    return resolve_settings({"target": "demo", "base_url": running.base_url, "stripe_api_key": running.stripe_api_key,
                             "stripe_api_base": running.stripe_api_base, "reports_dir": str(reports),
                             "settle": 0.2}, environ={})


def env_for(running: Embedded, reports: Path, *, webhook_secret: bool = False) -> dict[str, str]:
    """The environment of a CI job aimed at that target (with its webhook secret when ``webhook_secret``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOKE_", "STRIPE_", "BASE_URL"))}
    env.update({"BASE_URL": running.base_url, "STRIPE_API_KEY": running.stripe_api_key or "",
                "STRIPE_API_BASE": running.stripe_api_base or "", "SMOKE_TARGET": "demo",
                "SMOKE_REPORTS_DIR": str(reports), "SMOKE_SETTLE_SECONDS": "0.2"})
    if webhook_secret:
        env["STRIPE_WEBHOOK_SECRET"] = running.webhook_secret
    return env


def created(running: Embedded, reports: Path) -> Path:
    """Create-only, in process: the receipt's path."""
    _receipt, path = phases.create(settings_for(running, reports), running.base_url, out=io.StringIO())
    return path
