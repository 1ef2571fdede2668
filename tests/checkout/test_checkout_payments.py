"""The driver against the emulator's hosted page: every layout, every test card, both 3D Secure nestings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import stripe

from smoke.checkout.driver import PayOutcome, pay

SUCCESS, DECLINE, NO_FUNDS, THREE_DS = "4242424242424242", "4000000000000002", "4000000000009995", "4000002500003155"
LAYOUTS = ("accordion", "card", "iframe", "embedded", "legacy")


def _pay(session: Any, browser: Any, tmp_path: Path, **kwargs: Any) -> PayOutcome:
    return pay(session.url, browser=browser, timeout=30, artifacts_dir=tmp_path / "artifacts", **kwargs)


def _events(client: stripe.StripeClient, object_id: str) -> list[str]:
    """Types of the events about ``object_id``, oldest first."""
    events = list(client.v1.events.list(params={"limit": 100}).auto_paging_iter())
    return [e.type for e in reversed(events) if e.data.object.to_dict().get("id") == object_id]


def _assert_paid(client: stripe.StripeClient, session_id: str) -> None:
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert "checkout.session.completed" in _events(client, session_id)
    pi_events = _events(client, session.payment_intent)
    assert "payment_intent.succeeded" in pi_events, pi_events


def _assert_still_open(client: stripe.StripeClient, session_id: str, emulator: Any) -> None:
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert emulator.store.get_session(session_id)["status"] == "open"
    assert "checkout.session.completed" not in _events(client, session_id)
    assert "payment_intent.payment_failed" in _events(client, session.payment_intent)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_pays_and_lands_on_the_success_url(layout, browser, client, emulator, receiver, make_session,
                                                        tmp_path):
    session = make_session(layout)
    outcome = _pay(session, browser, tmp_path, success_url_prefix=receiver.url + "/thanks")
    assert outcome.status == "succeeded", outcome.message
    assert outcome.final_url == f"{receiver.url}/thanks?session_id={session.id}"
    assert f"/thanks?session_id={session.id}" in receiver.seen()
    assert outcome.artifacts == [] and not outcome.challenged
    _assert_paid(client, session.id)
    assert emulator.store.get_session(session.id)["payment_status"] == "paid"


@pytest.mark.parametrize(("layout", "card", "message"), [
    ("card", DECLINE, "Your card has been declined."),
    ("iframe", DECLINE, "Your card has been declined."),
    ("accordion", NO_FUNDS, "Your card has insufficient funds."),
    ("legacy", NO_FUNDS, "Your card has insufficient funds."),
])
def test_declines_leave_the_session_payable(layout, card, message, browser, client, emulator, make_session, tmp_path):
    session = make_session(layout)
    outcome = _pay(session, browser, tmp_path, card=card)
    assert (outcome.status, outcome.message) == ("declined", message)
    assert card not in outcome.message and outcome.artifacts == []
    _assert_still_open(client, session.id, emulator)


def test_after_a_decline_the_same_session_can_be_paid(browser, client, emulator, make_session, tmp_path):
    session = make_session("accordion")
    assert _pay(session, browser, tmp_path, card=DECLINE).status == "declined"
    outcome = _pay(session, browser, tmp_path, card=SUCCESS)
    assert outcome.status == "succeeded", outcome.message
    _assert_paid(client, session.id)


@pytest.mark.parametrize(("layout", "challenge"), [
    ("accordion", "current"), ("iframe", "legacy"), ("embedded", "current"), ("legacy", "legacy"),
])
def test_3ds_complete(layout, challenge, browser, client, make_session, tmp_path):
    session = make_session(layout, challenge=challenge)
    outcome = _pay(session, browser, tmp_path, card=THREE_DS, three_ds="complete")
    assert outcome.status == "succeeded", outcome.message
    assert outcome.challenged and f"{challenge} 3D Secure nesting" in outcome.message
    _assert_paid(client, session.id)
    assert "payment_intent.requires_action" in _events(client, client.v1.checkout.sessions.retrieve(session.id).payment_intent)


@pytest.mark.parametrize(("layout", "challenge"), [("card", "legacy"), ("embedded", "current")])
def test_3ds_fail(layout, challenge, browser, client, emulator, make_session, tmp_path):
    session = make_session(layout, challenge=challenge)
    outcome = _pay(session, browser, tmp_path, card=THREE_DS, three_ds="fail")
    assert outcome.status == "declined" and outcome.challenged
    assert "unable to authenticate" in outcome.message
    _assert_still_open(client, session.id, emulator)


def test_a_card_that_needs_no_challenge_is_fine_with_three_ds_fail(browser, client, make_session, tmp_path):
    session = make_session("card")
    outcome = _pay(session, browser, tmp_path, card=SUCCESS, three_ds="fail")
    assert outcome.status == "succeeded" and not outcome.challenged
    _assert_paid(client, session.id)


def test_a_session_with_its_email_set_shows_it_read_only(browser, client, make_session, tmp_path):
    session = make_session("card", customer_email="buyer@example.com")
    outcome = _pay(session, browser, tmp_path)
    assert outcome.status == "succeeded", outcome.message
    assert client.v1.checkout.sessions.retrieve(session.id).customer_details.email == "buyer@example.com"
