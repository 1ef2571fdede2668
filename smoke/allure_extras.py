"""What the Allure report needs beyond the results: an environment block and categories by failure cause."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

# cause id → the category's name in the Categories tab; failures carry "[stripe-smoke cause: <id>]" in their trace.
CAUSE_TITLES = {
    "wrong_secret": "Wrong webhook secret given to the harness",
    "reserialized_body": "Signature verified over a re-serialised body",
    "refuses_event": "Crediting event refused after its signature was accepted",
    "rejected": "Correctly signed event rejected",
    "crashes": "Webhook crashes on a real event",
    "records_before_processing": "Event recorded before it was processed",
    "acknowledged_during_failure": "Acknowledged while it could not process (credit lost)",
    "retry_fails": "Still failing after the cause was gone",
    "acknowledged_during_outage": "Acknowledged while Stripe was unreachable (credit lost)",
    "acknowledges_everything": "Webhook acknowledges everything",
    "api_version": "Event shape from another API version",
    "credited_elsewhere": "Credited another account or none",
    "not_credited": "Acknowledged but not credited",
    "wrong_amount": "Wrong amount credited",
    "credited_twice": "Credited more than once",
    "no_dedupe": "No dedupe on the event id",
    "dedupe_race": "Dedupe race (check-then-insert)",
    "lost_update": "Lost update: concurrent payments overwrite each other's credit",
    "drops_distinct_payments": "Distinct payments to one buyer dropped",
    "burst_overcredit": "Credited more than was paid under load",
    "burst_misattributed": "Credits landed on the wrong buyers under load",
    "burst_errors": "Webhook fails under a burst of payments",
    "acknowledges_rejection": "Forged event answered 2xx (catch-all error path)",
    "slow_ack": "Slow acknowledgement",
    "crashes_on_unplaceable": "Crashes (5xx) on a payment it cannot place",
    "credits_unplaceable": "Credits a payment that names no account of the buyer's",
    "ignores_async_success": "Delayed payment never credited (async_payment_succeeded ignored)",
    "crashes_on_async_success": "Crashes (5xx) on async_payment_succeeded",
    "rejects_async_success": "Rejects async_payment_succeeded (4xx)",
    "crashes_on_non_event": "Crashes (5xx) on JSON that is not an event",
    "acknowledges_non_event": "Acknowledges signed JSON that is not an event",
    "credits_non_event": "Credits from JSON that is not an event",
}


def cause_title(cause: str) -> str:
    """A cause id as a heading a person reads in the Categories tab."""
    if cause in CAUSE_TITLES:
        return CAUSE_TITLES[cause]
    for prefix, heading in (("forgery_", "Accepts a forged event"), ("crashes_on_", "Crashes (5xx) on")):
        if cause.startswith(prefix):
            return f"{heading}: {cause.removeprefix(prefix).replace('_', ' ')}"
    return cause.replace("_", " ").capitalize()


def categories(causes: set[str] | frozenset[str] = frozenset()) -> list[dict[str, object]]:
    """One category per failure cause (the known ones and any this run saw), each matching that cause only, so
    the Categories tab groups failures by root cause; then blocked and inconclusive checks."""
    every = sorted(set(CAUSE_TITLES) | set(causes))
    result: list[dict[str, object]] = [
        {"name": cause_title(cause), "matchedStatuses": ["failed", "broken"],
         "traceRegex": rf"(?s).*\[stripe-smoke cause: {re.escape(cause)}\]\s*"} for cause in every]
    result += [
        {"name": "Blocked by a failed foundation", "matchedStatuses": ["skipped"],
         "messageRegex": r"(?s).*Blocked: blocked: .*"},
        {"name": "Inconclusive: the harness could not observe", "matchedStatuses": ["skipped"],
         "messageRegex": r"(?s).*Inconclusive: .*"},
    ]
    return result


def write_allure_extras(config: pytest.Config, causes: set[str]) -> None:
    """Write ``environment.properties`` and ``categories.json`` into the Allure results folder, when there is one."""
    folder = config.getoption("allure_report_dir", None)
    if not folder:
        return
    from smoke.errors import ConfigError
    from smoke.settings_source import run_redactor, settings_for

    try:
        settings, _ = settings_for(config)
    except ConfigError:
        return
    redactor = run_redactor(config)
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
    lines = [f"{key.replace(' ', '.')}={redactor.redact(str(value))}" for key, value in environment.items()]
    (path / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (path / "categories.json").write_text(json.dumps(categories(causes), indent=2), encoding="utf-8")


def _run_id(config: pytest.Config) -> str:
    import os
    import uuid

    return os.environ.get("SMOKE_RUN_ID") or getattr(config, "_smoke_run_id", None) or uuid.uuid4().hex[:10]
