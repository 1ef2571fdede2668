"""A small SQLite store shared by the reference targets: one connection per call, safe across threads."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Database:
    """A SQLite file in a private temporary folder, created with ``schema``."""

    def __init__(self, schema: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="smoke-ref-")
        self.path = Path(self._dir.name) / "billing.sqlite3"
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use :meth:`transaction` for atomic work."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction: committed on success, rolled back on error."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        """Delete the database file."""
        self._dir.cleanup()
