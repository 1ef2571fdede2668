"""Receipt files: the contract between create-only and verify-only (versioned, atomic, mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smoke.errors import ConfigError
from smoke.files import read_json, read_text
from smoke.redact import Redactor, default_redactor

SCHEMA = "stripe-smoke/receipt"
VERSION = 1
# Stripe expires an unpaid Checkout Session after 24 h; a week leaves room for slow webhooks.
DEFAULT_LIFETIME = timedelta(days=7)

# Receipts are small; a bigger file is not one of ours.
LIMIT = 10_000_000


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Receipt:
    """What verify needs to judge a payment made after create: see README, "Receipts"."""

    target: str
    base_url: str
    run_id: str
    buyer: str
    session_id: str | None
    checkout_url: str | None
    effect: dict[str, Any]
    baseline: Any
    context: dict[str, Any] = field(repr=False)
    payment_intent: str | None = None
    stripe_api_base: str | None = None
    receipt_id: str = field(default_factory=lambda: "rcpt_" + secrets.token_hex(6))
    created_at: str = field(default_factory=lambda: _now().isoformat())
    expires_at: str = field(default_factory=lambda: (_now() + DEFAULT_LIFETIME).isoformat())
    status: str = "created"
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self, phase: str, status: str, detail: str = "", redactor: Redactor | None = None) -> None:
        """Append a phase to the history (``detail`` redacted with the run's redactor) and set the status."""
        self.status = status
        self.history.append({"phase": phase, "at": _now().isoformat(), "status": status,
                             "detail": (redactor or default_redactor()).redact(detail)})

    @property
    def expired(self) -> bool:
        """True once the receipt is past its expiry."""
        return _now() > datetime.fromisoformat(self.expires_at)

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"schema": SCHEMA, "version": VERSION, **asdict(self)}


def save(receipt: Receipt, path: Path) -> Path:
    """Write ``receipt`` atomically (temp file + rename) with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".receipt-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(receipt.to_json(), fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)
    return path


def _sync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: Path, *, target: str | None = None, allow_expired: bool = False) -> Receipt:
    """Read and check a receipt (never writing to it); every problem is one sentence naming the file."""
    from smoke.schema import ReceiptSchema  # pydantic: imported when a receipt is loaded
    from smoke.schema_errors import validate

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"Receipt {path} does not exist; pass the file that 'checkout create' printed.")
    # Receipts are written by the harness: a symlink is tampering or a mistake, and is never followed.
    data = read_json(path, "receipt", limit=LIMIT, follow_symlinks=False,
                     fix="it may be truncated — create a new one with 'stripe-smoke checkout create'")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f"{path} is not a stripe-smoke receipt; pass a file from reports/receipts/.")
    if data.get("version") != VERSION:
        raise ConfigError(f"Receipt {path} has schema version {data.get('version')!r}, this stripe-smoke reads "
                          f"version {VERSION}; verify it with the stripe-smoke that created it, or create a new one.")
    validate(ReceiptSchema, data, prefix=f"Receipt {path}: ", word="object",
             fix="create a new one with 'stripe-smoke checkout create'")
    receipt = Receipt(**{k: v for k, v in data.items() if k not in ("schema", "version")})
    if target is not None and Path(target).stem != receipt.target and target != receipt.target:
        raise ConfigError(f"Receipt {path} is for target {receipt.target!r}, not {target!r}; "
                          f"pass --target {receipt.target} or the right receipt.")
    if receipt.expired and not allow_expired:
        raise ConfigError(f"Receipt {path} expired at {receipt.expires_at}; create a new payment with 'stripe-smoke checkout create'.")
    return receipt


def pending(folder: Path) -> list[Path]:
    """Receipts in ``folder`` not yet verified, oldest first (by ``created_at``; unreadable ones first)."""
    found: list[tuple[datetime, str, Path]] = []
    for path in folder.glob("*.json"):
        try:
            data = json.loads(read_text(path, "receipt", limit=LIMIT, follow_symlinks=False))
            status = data.get("status") if isinstance(data, dict) else None
        except (ConfigError, ValueError, RecursionError):
            data, status = None, None  # verify reports what is wrong with it
        if status != "verified":
            found.append((_created(data), path.name, path))
    return [path for _, _, path in sorted(found)]


def _created(data: Any) -> datetime:
    """When a receipt was created, for ordering (the earliest possible time when it does not say)."""
    try:
        created = datetime.fromisoformat(data["created_at"])
    except (TypeError, KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)
