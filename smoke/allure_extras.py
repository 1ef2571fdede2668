"""What the Allure report needs beyond the results: an environment block and categories by failure cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smoke.redact import REDACTOR

# cause id → the category's name in the Categories tab; failures carry "[stripe-smoke cause: <id>]" in their trace.
CAUSE_TITLES = {
    "wrong_secret": "Wrong webhook secret given to the harness",
    "reserialized_body": "Signature verified over a re-serialised body",
    "refuses_event": "Crediting event refused after its signature was accepted",
    "rejected": "Correctly signed event rejected",
    "crashes": "Webhook crashes on a real event",
    "records_before_processing": "Event recorded before it was processed",
    "acknowledges_everything": "Webhook acknowledges everything",
    "api_version": "Event shape from another API version",
    "credited_elsewhere": "Credited another account or none",
    "not_credited": "Acknowledged but not credited",
    "wrong_amount": "Wrong amount credited",
    "credited_twice": "Credited more than once",
    "no_dedupe": "No dedupe on the event id",
    "dedupe_race": "Dedupe race (check-then-insert)",
    "acknowledges_rejection": "Forged event answered 2xx (catch-all error path)",
    "slow_ack": "Slow acknowledgement",
}


def _categories() -> list[dict[str, object]]:
    categories: list[dict[str, object]] = [
        {"name": title, "matchedStatuses": ["failed", "broken"],
         "traceRegex": rf"(?s).*\[stripe-smoke cause: {cause}\].*"} for cause, title in CAUSE_TITLES.items()]
    categories += [
        {"name": "Accepts forged events", "matchedStatuses": ["failed"],
         "traceRegex": r"(?s).*\[stripe-smoke cause: forgery_.*"},
        {"name": "Crashes (5xx) where a 4xx or 2xx was due", "matchedStatuses": ["failed"],
         "traceRegex": r"(?s).*\[stripe-smoke cause: crashes_.*"},
        {"name": "Blocked by a failed foundation", "matchedStatuses": ["skipped"],
         "messageRegex": r"(?s).*Blocked: blocked: .*"},
        {"name": "Inconclusive: the harness could not observe", "matchedStatuses": ["skipped"],
         "messageRegex": r"(?s).*Inconclusive: .*"},
        {"name": "Other failures of the target", "matchedStatuses": ["failed"],
         "traceRegex": r"(?s).*\[stripe-smoke cause: .*"},
    ]
    return categories


def write_allure_extras(config: pytest.Config) -> None:
    """Write ``environment.properties`` and ``categories.json`` into the Allure results folder, when there is one."""
    folder = config.getoption("allure_report_dir", None)
    if not folder:
        return
    from smoke.errors import ConfigError
    from smoke.settings_source import settings_for

    try:
        settings, _ = settings_for(config)
    except ConfigError:
        return
    api_version = settings.api_version
    if not api_version:
        try:
            from smoke.profiles import load_profile

            api_version = load_profile(settings.target).api_version
        except ConfigError:
            api_version = "?"
    environment = {
        "Target": settings.target, "Base URL": settings.base_url or "embedded (started by the harness)",
        "Stripe API version": api_version, "Stripe API base": settings.stripe_api_base or "https://api.stripe.com",
        "Run id": _run_id(config), "Reports": settings.reports_dir,
    }
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    lines = [f"{key.replace(' ', '.')}={REDACTOR.redact(str(value))}" for key, value in environment.items()]
    (path / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (path / "categories.json").write_text(json.dumps(_categories(), indent=2), encoding="utf-8")


def _run_id(config: pytest.Config) -> str:
    import os
    import uuid

    return os.environ.get("SMOKE_RUN_ID") or getattr(config, "_smoke_run_id", None) or uuid.uuid4().hex[:10]
