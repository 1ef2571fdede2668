"""The contract styles: each profile is green against its reference target, and each faulty variant is caught."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from smoke.reference import embedded
from smoke.servers import RunningServer

StartTarget = Callable[..., RunningServer]


@pytest.fixture
def start_target(webhook_secret: str) -> Iterator[StartTarget]:
    """Start a reference target by its embedded name (optionally with faults); stopped after the test."""
    started: list[RunningServer] = []

    def start(name: str, *faults: str, **options: object) -> RunningServer:
        server = embedded(name)(webhook_secret, faults=frozenset(faults), **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes()


def _skip_reasons(result: pytest.RunResult) -> str:
    return "\n".join(line for line in result.stdout.lines if line.startswith("SKIPPED"))


# style → (profile, embedded name, checks that must pass at least, skip reasons that must appear)
STYLES = {
    # + the failure paths: 2 unplaceable payments, 7 non-event bodies (the delayed payment skips: not a Checkout credit)
    "invoices": ("invoices", "invoices", 31, ("a refund's effect cannot be computed", "a burst needs a numeric credit state",
                                              "not a Checkout Session's")),
    "subscriptions": ("subscriptions", "subscriptions", 35, ()),  # + the burst, to one buyer and spread; + 10 failure paths
    # + the failure paths: a delayed payment acknowledged, 7 non-event bodies (no [webhook.object] to unplace)
    "ack-only": ("ack-only", "ack-only", 23, ("no observable effect", "cannot tell which fields name the account")),
}

# Checks that fail against a faithful target because the system it mirrors really has the flaw.
FINDINGS = {
    "ack-only": {"test_accepts_stripes_content_type": "Real Stripe deliveries would be rejected"},
}

# (style, fault) → (the check meant to catch it, words its failure message must contain)
CAUGHT_BY: dict[tuple[str, str], tuple[str, str]] = {
    ("invoices", "paid_on_failure"): ("test_event_does_not_credit and failed_payment", "failed payment"),
    ("invoices", "crashes_on_duplicate"): ("test_redelivery_credits_once", "acknowledge duplicates with 2xx"),
    ("invoices", "reads_latest_charge"): ("test_signed_event_credits_exact_amount", "this credit is lost"),
    ("invoices", "error_on_unknown"): ("test_event_does_not_credit and unknown_type", "acknowledge events you do not act on"),
    ("subscriptions", "credits_unpaid"): ("test_event_does_not_credit and unpaid_session", "unpaid session"),
    ("subscriptions", "no_dedupe"): ("test_redelivery_credits_once", "does not dedupe on the event id"),
    ("subscriptions", "dollars_as_cents"): ("test_signed_event_credits_exact_amount", "credited the wrong amount"),
    ("ack-only", "accepts_bad_signatures"): ("test_webhook_route_exists", "acknowledges everything"),
    ("ack-only", "error_on_bad_json"): ("test_bad_body_is_refused_cleanly and not_json", "crashes on bad input"),
    ("ack-only", "slow_ack"): ("test_acknowledges_within_window", "to acknowledge"),
}

EXTRA_OPTIONS = {("ack-only", "slow_ack"): ("--ack-seconds", "0.3")}
START_OPTIONS: dict[tuple[str, str], dict[str, object]] = {("ack-only", "slow_ack"): {"slow_seconds": 0.8}}


def test_every_fault_of_every_style_has_a_check() -> None:
    """No faulty variant is left without the check that catches it."""
    for style, (_, name, _, _) in STYLES.items():
        module = importlib.import_module(embedded(name).__module__)
        assert {f for s, f in CAUGHT_BY if s == style} == set(module.FAULTS), style


@pytest.mark.parametrize("style", sorted(STYLES))
def test_correct_target_is_green(style: str, start_target: StartTarget, run_suites: Callable[..., pytest.RunResult]) -> None:
    """Every check passes (or skips with the reason the profile gives) against the correct reference target."""
    profile, name, least, reasons = STYLES[style]
    server = start_target(name)
    result = run_suites(base_url=server.url, target=profile)
    outcomes = _outcomes(result)
    findings = FINDINGS.get(style, {})
    assert outcomes.get("failed", 0) == len(findings) and outcomes.get("errors", 0) == 0, result.stdout.str()
    for check, words in findings.items():
        result.stdout.re_match_lines([rf"FAILED .*{check}.*"])
        assert words in result.stdout.str()
    assert outcomes.get("passed", 0) >= least, outcomes
    for reason in reasons:
        assert reason in _skip_reasons(result), _skip_reasons(result)


@pytest.mark.parametrize("style, fault", sorted(CAUGHT_BY))
def test_faulty_variant_is_caught(style: str, fault: str, start_target: StartTarget,
                                  run_suites: Callable[..., pytest.RunResult]) -> None:
    """The check meant for the fault fails against the faulty variant, with a message naming the fault."""
    check, words = CAUGHT_BY[(style, fault)]
    profile, name, _, _ = STYLES[style]
    server = start_target(name, fault, **START_OPTIONS.get((style, fault), {}))
    result = run_suites("-k", check, *EXTRA_OPTIONS.get((style, fault), ()), base_url=server.url, target=profile)
    assert _outcomes(result).get("failed", 0) >= 1, result.stdout.str()
    assert words in result.stdout.str(), result.stdout.str()


def test_invoices_given_invoice_id_is_paid_and_balance_due_reaches_zero(
        start_target: StartTarget, run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    """With SMOKE_INVOICE_ID the setup step is not sent: that invoice is the one paid (open → paid, balance_due → 0)."""
    from smoke.reference.invoices import SERVICE_KEY

    server = start_target("invoices")
    headers, params = {"X-API-Key": SERVICE_KEY}, {"workspace_id": "ws_given"}
    created = httpx.post(f"{server.url}/api/v1/billing/invoices", params=params, headers=headers,
                         json={"amount_due": 2500}, timeout=5).json()
    monkeypatch.setenv("SMOKE_INVOICE_ID", created["id"])
    monkeypatch.setenv("SMOKE_WORKSPACE_ID", "ws_given")
    result = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=server.url, target="invoices")
    assert result.ret == 0, result.stdout.str()
    invoices = httpx.get(f"{server.url}/api/v1/billing/invoices", params=params, headers=headers, timeout=5).json()["invoices"]
    assert [(i["id"], i["status"], i["balance_due"]) for i in invoices] == [(created["id"], "paid", 0)]
    # Paid already: a second crediting check says so instead of passing on a state that cannot move.
    again = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=server.url, target="invoices")
    assert "needs a fresh subject" in again.stdout.str(), again.stdout.str()


def test_invoices_rollout_gate_is_reported(start_target: StartTarget, run_suites: Callable[..., pytest.RunResult]) -> None:
    """A workspace outside the rollout sees 404s; the failure names the step and the status."""
    server = start_target("invoices", rollout={"ws_in_rollout"})
    result = run_suites("-k", "test_signed_event_credits_exact_amount", base_url=server.url, target="invoices")
    assert result.ret != 0
    assert f"[invoice] POST {server.url}/api/v1/billing/invoices answered 404" in result.stdout.str(), result.stdout.str()


def test_subscriptions_target_tracks_subscription_status(start_target: StartTarget, webhook_secret: str) -> None:
    """customer.subscription.* and invoice.payment_* events move the user's subscription status; duplicates are flagged."""
    from smoke.events import Payment, build_event, to_body
    from smoke.signing import delivery_headers

    server = start_target("subscriptions")
    with httpx.Client(base_url=server.url, timeout=5) as http:
        user = http.post("/api/auth/register", json={"email": "sub@example.test", "password": "long-enough-1"}).json()
        auth = {"Authorization": f"Bearer {user['access_token']}"}
        payment = Payment(amount=1500)

        def deliver(event_type: str) -> dict[str, object]:
            event = build_event(event_type, payment, {"metadata": {"user_id": user["user"]["id"]}})
            body = to_body(event)
            answer = http.post("/api/webhooks/stripe", content=body, headers=delivery_headers(body, [webhook_secret]))
            assert answer.status_code == 200, answer.text
            return answer.json()

        statuses = []
        for event_type in ("customer.subscription.created", "invoice.payment_failed", "invoice.payment_succeeded",
                           "customer.subscription.deleted"):
            deliver(event_type)
            statuses.append(http.get("/api/payments", headers=auth).json()["subscription"]["status"])
        assert statuses == ["incomplete", "past_due", "active", "canceled"]
        assert http.get("/api/payments", headers=auth).json()["paid_total_cents"] == 0  # renewals are not one-off credits
        assert http.get("/api/payments", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_ack_only_with_a_lenient_content_type_is_all_green(start_target: StartTarget,
                                                           run_suites: Callable[..., pytest.RunResult]) -> None:
    """Fix the one flaw (accept ``application/json; charset=utf-8``) and nothing fails: the finding was the flaw."""
    server = start_target("ack-only", strict_content_type=False)
    result = run_suites(base_url=server.url, target="ack-only")
    outcomes = _outcomes(result)
    assert result.ret == 0 and outcomes.get("failed", 0) == 0 and outcomes.get("passed", 0) >= 24, result.stdout.str()


def test_ack_only_bad_signature_mode_is_one_finding_and_blocks_the_forgeries(
        start_target: StartTarget, run_suites: Callable[..., pytest.RunResult]) -> None:
    """Answering 200 to everything (unsigned garbage too) is one failure, at the route; the forgeries are blocked by
    it rather than each blamed, and nothing passes silently."""
    server = start_target("ack-only", "accepts_bad_signatures")
    result = run_suites("-k", "test_forged_event_is_rejected or test_webhook_route_exists", base_url=server.url,
                        target="ack-only")
    outcomes = _outcomes(result)
    assert result.ret == 1 and outcomes.get("failed", 0) == 1 and outcomes.get("passed", 0) == 0, result.stdout.str()
    result.stdout.re_match_lines([r"FAILED .*test_webhook_route_exists.*"])
    assert "acknowledges everything without verifying the signature" in result.stdout.str()
    assert result.stdout.str().count("blocked: test_webhook_route_exists failed") >= 9


def test_python_escape_hatch_class_reads_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_target: StartTarget,
                                                   run_suites: Callable[..., pytest.RunResult]) -> None:
    """A profile naming ``class = "mod:Class"`` (a TargetClient subclass) runs the checks through that class."""
    (tmp_path / "my_smoke_target.py").write_text(
        "from smoke.target import TargetClient\n\n\n"
        "class BalanceInCode(TargetClient):\n"
        "    def read_state(self):\n"
        "        self.ensure_buyer()\n"
        "        answer = self.request('GET', '/api/billing/account', step='state', headers=self.auth_headers())\n"
        "        return answer.json()['account']['balance_cents']\n")
    demo = (Path(__file__).parent.parent / "fixtures" / "profiles" / "demo.toml").read_text()
    without_state = demo.replace('[state]\nrequest = "GET /api/billing/account"\nvalue = "account.balance_cents"\n', "")
    assert without_state != demo
    profile = tmp_path / "coded.toml"
    profile.write_text('class = "my_smoke_target:BalanceInCode"\n' + without_state.replace('name = "demo"', 'name = "coded"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    server = start_target("topups")
    result = run_suites("-k", "test_signed_event_credits_exact_amount or test_redelivery_credits_once",
                        base_url=server.url, target=str(profile))
    assert result.ret == 0 and result.parseoutcomes().get("passed", 0) == 2, result.stdout.str()


def test_invoices_receipt_round_trip_keeps_the_state_effect(tmp_path: Path, start_target: StartTarget,
                                                            webhook_secret: str) -> None:
    """create-only writes an open → paid receipt for one invoice; verify's client reads that invoice (secret key from env)."""
    import io

    from smoke import phases
    from smoke.config import resolve_settings

    server = start_target("invoices")
    settings = resolve_settings({"target": "invoices", "base_url": server.url, "reports_dir": str(tmp_path),
                                 "webhook_secret": webhook_secret})
    receipt, path = phases.create(settings, server.url, out=io.StringIO())
    assert receipt.effect == {"from": "open", "to": "paid"} and receipt.baseline == "open"
    assert "svc_test_reference_invoices_key" not in path.read_text()
    restored = phases._restore(receipt, settings)
    assert restored.results["invoice"]["id"] == receipt.context["invoice"]["id"]
    assert restored.read_state() == "open"
