"""When the driver cannot pay: a clear failure, evidence saved, and never a full card number written down."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from smoke.checkout import artifacts
from smoke.checkout.driver import pay

CARD = "4242424242424242"
FORMS = (CARD, "4242 4242 4242 4242", "4242-4242-4242-4242")


def _with_query(url: str, query: str) -> str:
    base, fragment = url.split("#", 1)
    return f"{base}?{query}#{fragment}"


def _all_text(files: list[Path]) -> str:
    """Every artifact's bytes as text, trace members included."""
    chunks = []
    for path in files:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                chunks += [zf.read(name).decode("utf-8", "replace") for name in zf.namelist()]
        else:
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def _assert_failed_with_evidence(outcome: Any, directory: Path) -> str:
    assert outcome.status == "failed"
    assert "stripe-smoke checkout verify --receipt FILE" in outcome.message
    assert "by hand" in outcome.message and str(directory) in outcome.message
    names = {p.name for p in outcome.artifacts}
    assert names == {artifacts.SCREENSHOT, artifacts.HTML, artifacts.FRAMES, artifacts.TRACE}
    assert all(p.is_file() and p.stat().st_size > 0 and p.parent == directory for p in outcome.artifacts)
    text = _all_text(outcome.artifacts) + outcome.message
    assert not any(form in text for form in FORMS)
    return text


def test_a_bot_check_fails_clearly_with_evidence(browser, emulator, make_session, tmp_path):
    session = make_session("accordion")
    directory = tmp_path / "evidence"
    outcome = pay(_with_query(session.url, "layout=botcheck"), card=CARD, browser=browser, timeout=20,
                  artifacts_dir=directory)
    _assert_failed_with_evidence(outcome, directory)
    assert "bot check" in outcome.message and "•••• 4242" in outcome.message
    frames = (directory / artifacts.FRAMES).read_text(encoding="utf-8")
    assert "hcaptcha" in frames and "name=(main)" in frames
    assert emulator.store.get_session(session.id)["status"] == "open"


def test_a_bot_check_after_pay_fails_and_the_typed_card_is_masked(browser, emulator, make_session, tmp_path):
    session = make_session("iframe")
    directory = tmp_path / "evidence"
    outcome = pay(_with_query(session.url, "captcha=pay"), card=CARD, browser=browser, timeout=20,
                  artifacts_dir=directory)
    text = _assert_failed_with_evidence(outcome, directory)
    assert "after Pay was pressed" in outcome.message
    # The number was typed (the trace recorded it) and only its masked form was kept.
    assert "•••• 4242" in text
    assert emulator.store.get_session(session.id)["status"] == "open"


def test_a_url_without_its_fragment_is_not_found(browser, make_session, tmp_path):
    session = make_session("card")
    outcome = pay(session.url.split("#")[0], browser=browser, timeout=20, artifacts_dir=tmp_path)
    assert outcome.status == "failed" and "the page says 'Not found" in outcome.message


def test_an_unknown_page_times_out_with_evidence(browser, emulator, tmp_path):
    outcome = pay(emulator.url + "/v1/balance#x", browser=browser, timeout=2, artifacts_dir=tmp_path)
    _assert_failed_with_evidence(outcome, tmp_path)
    assert "no card number field appeared" in outcome.message


def test_a_paid_session_page_says_it_is_no_longer_active(browser, make_session, tmp_path):
    session = make_session("card")
    assert pay(session.url, browser=browser, timeout=30, artifacts_dir=tmp_path).status == "succeeded"
    again = pay(session.url, browser=browser, timeout=20, artifacts_dir=tmp_path)
    assert again.status == "failed"
    assert "Something went wrong This Checkout Session is no longer active." in again.message
