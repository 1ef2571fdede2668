"""Evidence for each check: the HTTP exchanges and the signed events, redacted, in the reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smoke.checks import Smoke
from smoke.settings_source import run_redactor
from smoke.target import Exchange


def _allure() -> Any:
    try:
        import allure
    except ImportError:  # reports still work without Allure
        return None
    return allure


def attach_note(item: pytest.Item, name: str, text: str) -> None:
    """Add a short text (a figure a check measured) to the check's report section and, with --alluredir, to Allure."""
    text = run_redactor(item.config).redact(text)
    item.add_report_section("call", name, text)
    allure = _allure()
    if allure is not None:
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def attach_evidence(item: pytest.Item, smoke: Smoke, exchanges: list[Exchange]) -> None:
    """Add the check's exchanges to its report section and, with --alluredir, as Allure attachments."""
    lines = [e.summary() for e in exchanges]
    if lines:
        item.add_report_section("call", "HTTP exchanges", "\n".join(lines))
    allure = _allure()
    if allure is None:
        return
    if exchanges:
        allure.attach(json.dumps([e.as_dict() for e in exchanges], indent=2), name="HTTP exchanges (redacted)",
                      attachment_type=allure.attachment_type.JSON)
    for index, sent in enumerate(smoke.sent[:20]):
        allure.attach(run_redactor(item.config).redact(sent.body.decode("utf-8", "replace")),
                      name=f"event {index + 1}: {sent.event.get('type')} → HTTP {sent.delivery.status}",
                      attachment_type=allure.attachment_type.JSON)
        headers = {k: (v if k != "Stripe-Signature" else v.split(",")[0] + ",v1=…") for k, v in sent.headers.items()}
        allure.attach(json.dumps(headers, indent=2), name=f"event {index + 1} headers",
                      attachment_type=allure.attachment_type.JSON)
