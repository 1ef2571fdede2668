"""The Allure results a run leaves: each check titled and labelled, an environment block, failures grouped by cause."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from smoke.servers import RunningServer

from _scan import stripe_smoke


def _results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def _categories_of(result: dict, categories: list[dict]) -> list[str]:
    """The categories Allure puts a result in: each whose statuses and (full-match) regexes fit it."""
    details = result.get("statusDetails") or {}
    names = []
    for category in categories:
        if result["status"] not in category.get("matchedStatuses", []):
            continue
        if "messageRegex" in category and not re.fullmatch(category["messageRegex"], details.get("message") or ""):
            continue
        if "traceRegex" in category and not re.fullmatch(category["traceRegex"], details.get("trace") or ""):
            continue
        names.append(category["name"])
    return names


def test_allure_results_are_titled_labelled_and_grouped_by_cause(tmp_path: Path, webhook_secret: str,
                                                                  start_topups: Callable[..., RunningServer]) -> None:
    server = start_topups("no_signature_check", "no_dedupe")
    reports = tmp_path / "reports"
    run = stripe_smoke(tmp_path, "run", "--base-url", server.url, "--reports-dir", str(reports), "--settle-seconds",
                       "0.1", "--smoke-timeout", "2", env={"STRIPE_WEBHOOK_SECRET": webhook_secret})
    assert run.returncode == 1, run.stdout[-3000:]
    folder = reports / "allure-results"
    results = _results(folder)
    assert len(results) >= 20
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        assert not result["name"].startswith("test_"), f"{result['fullName']} has no title"
        assert labels.get("feature") and labels.get("severity"), result["fullName"]
    by_name = {r["name"]: r for r in results}
    credit = next(r for r in results if r["fullName"].endswith("test_signed_event_credits_exact_amount"))
    assert credit["name"] == "A signed crediting event → 2xx → the state moves by exactly the expected amount, within the deadline"
    assert {"feature": "credit", "severity": "blocker"}.items() <= {label["name"]: label["value"] for label in credit["labels"]}.items()
    assert by_name, "titles are unique enough to index"

    environment = dict(line.split("=", 1) for line in (folder / "environment.properties").read_text().splitlines())
    assert environment["Target"] == "demo" and environment["Base.URL"] == server.url
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\w+", environment["Stripe.API.version"])
    assert webhook_secret not in (folder / "environment.properties").read_text()

    categories = json.loads((folder / "categories.json").read_text())
    failed = [r for r in results if r["status"] in ("failed", "broken")]
    grouped: dict[str, set[str]] = {}
    for result in failed:
        names = _categories_of(result, categories)
        assert len(names) == 1, f"{result['fullName']} falls in {names}"
        grouped.setdefault(names[0], set()).add(result["fullName"].rsplit("#", 1)[-1])
    assert grouped["No dedupe on the event id"] == {"test_redelivery_credits_once"}
    assert grouped["Accepts a forged event: missing header"] == {"test_forged_event_is_rejected"}
    assert len(grouped) >= 4, grouped


def test_allure_results_hold_this_run_only_unless_history_is_kept(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    args = ("run", "--reports-dir", str(reports), "-k", "webhook_route_exists")
    for _ in range(2):
        assert stripe_smoke(tmp_path, *args, env={}).returncode == 0
        assert len(_results(reports / "allure-results")) == 1
    assert stripe_smoke(tmp_path, *args, "--keep-allure-history", env={}).returncode == 0
    assert len(_results(reports / "allure-results")) == 2
    # The exchanges are attached to the check's own result, not to a fixture's teardown.
    result = _results(reports / "allure-results")[0]
    assert any(a["name"] == "HTTP exchanges (redacted)" for a in result.get("attachments", []))
