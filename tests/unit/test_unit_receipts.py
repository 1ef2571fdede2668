"""Receipt files: what create writes is what verify reads, safely (atomic, 0600), and only for its own target."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smoke.errors import ConfigError
from smoke.receipts import Receipt, load, pending, save

TOKEN = "tok_" + "b" * 24


def _receipt(**changes: Any) -> Receipt:
    fields: dict[str, Any] = dict(
        target="invoices", base_url="https://staging.example.com", run_id="run1", buyer="buyer@example.test",
        session_id="cs_test_a1", checkout_url="https://checkout.stripe.com/c/pay/cs_test_a1#frag",
        effect={"from": "open", "to": "paid"}, baseline="open", context={"buyer": {"token": TOKEN}},
        payment_intent=None, stripe_api_base=None)
    fields.update(changes)
    return Receipt(**fields)


def test_a_saved_receipt_loads_back_field_for_field(tmp_path: Path) -> None:
    """Everything create knew (a from → to effect, the buyer's context, the history) is what verify reads."""
    receipt = _receipt()
    receipt.record("create", "created", "session cs_test_a1")
    path = save(receipt, tmp_path / "receipts" / f"{receipt.receipt_id}.json")
    loaded = load(path)
    assert loaded == receipt
    assert json.loads(path.read_text())["schema"] == "stripe-smoke/receipt"
    assert receipt.receipt_id.startswith("rcpt_") and receipt.receipt_id != _receipt().receipt_id


def test_loading_never_writes_and_saving_again_keeps_the_history(tmp_path: Path) -> None:
    """verify reads a receipt without touching it; a verdict saved afterwards adds to the history."""
    path = save(_receipt(), tmp_path / "r.json")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    receipt = load(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    receipt.record("verify", "not_paid", "Stripe says the session is open/unpaid")
    save(receipt, path)
    assert [(h["phase"], h["status"]) for h in load(path).history] == [("verify", "not_paid")]
    assert load(path).status == "not_paid"


def test_a_receipt_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """The buyer's token is in it: mode 0600 even under a permissive umask, and on overwrite."""
    old = os.umask(0)
    try:
        path = save(_receipt(), tmp_path / "r.json")
        path.chmod(0o644)
        save(_receipt(), path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_save_that_fails_leaves_the_old_receipt_whole_and_no_stray_file(tmp_path: Path) -> None:
    """Atomic: a write that breaks half-way (here, a value JSON cannot hold) never leaves a truncated receipt."""
    path = save(_receipt(), tmp_path / "r.json")
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save(_receipt(baseline=object()), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_an_expired_receipt_is_refused_unless_asked_for(tmp_path: Path) -> None:
    """Past its expiry, verify refuses it (exit 4) with what to do; allow_expired still reads it."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    path = save(_receipt(expires_at=past), tmp_path / "old.json")
    with pytest.raises(ConfigError, match=r"expired at .*create a new payment") as info:
        load(path)
    assert info.value.exit_code == 4
    assert load(path, allow_expired=True).expired
    assert not _receipt().expired


def test_a_receipt_is_for_its_own_target_named_or_by_profile_path(tmp_path: Path) -> None:
    """--target invoices or ./profiles/invoices.toml read it; another target is refused, naming both."""
    path = save(_receipt(), tmp_path / "r.json")
    assert load(path, target="invoices").target == "invoices"
    assert load(path, target=str(tmp_path / "profiles" / "invoices.toml")).target == "invoices"
    with pytest.raises(ConfigError, match="is for target 'invoices', not 'topups'; pass --target invoices"):
        load(path, target="topups")


def test_a_missing_receipt_says_which_file_to_pass(tmp_path: Path) -> None:
    """A mistyped path is a one-line configuration error, not a traceback."""
    with pytest.raises(ConfigError, match=r"nope\.json does not exist; pass the file that 'checkout create' printed"):
        load(tmp_path / "nope.json")


def test_pending_lists_every_receipt_not_yet_verified_oldest_first(tmp_path: Path) -> None:
    """verify --pending: verified receipts are left out; unverified, inconclusive and unreadable ones are listed,
    the oldest first (receipt ids are random, so not by name)."""
    now = datetime.now(UTC).replace(microsecond=0)
    paths = {}
    for name, minutes_ago, status in (("a_new", 1, "created"), ("b_done", 30, "verified"), ("c_old", 60, "not_paid"),
                                      ("d_mid", 10, "inconclusive")):
        receipt = _receipt(created_at=(now - timedelta(minutes=minutes_ago)).isoformat())
        receipt.status = status
        paths[name] = save(receipt, tmp_path / f"{name}.json")
    (tmp_path / "e_cut.json").write_text('{"schema": "stripe-smoke/rec')
    (tmp_path / "notes.txt").write_text("not a receipt")
    found = pending(tmp_path)
    assert paths["b_done"] not in found
    assert tmp_path / "e_cut.json" in found  # verify then says what is wrong with it
    assert [p for p in found if p in paths.values()] == [paths["c_old"], paths["d_mid"], paths["a_new"]]
    (tmp_path / "empty").mkdir()
    assert pending(tmp_path / "empty") == []


def test_history_details_are_redacted_but_the_context_keeps_the_token(tmp_path: Path) -> None:
    """A secret in a phase's detail is masked in the file; the context keeps the credential verify needs."""
    receipt = _receipt()
    receipt.record("pay", "paid", "Authorization: Bearer " + TOKEN)
    path = save(receipt, tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert TOKEN not in json.dumps(data["history"])
    assert data["context"] == {"buyer": {"token": TOKEN}}
