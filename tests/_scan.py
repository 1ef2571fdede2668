"""Running the CLI as a user would, and reading back every byte a run leaves (for secret scans)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

# Any JWT: three base64url parts, the first two JSON objects ("{"" encodes as "eyJ").
JWT_SHAPE = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")


def stripe_smoke(cwd: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``stripe-smoke ARGS`` in ``cwd`` with ``env`` added to this process's environment."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "smoke.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env}, cwd=cwd)


def report_texts(reports: Path) -> list[str]:
    """Every file under ``reports`` as text (receipts without their context), and every member of every zip too."""
    texts = []
    for path in (p for p in reports.rglob("*") if p.is_file()):
        if path.parent.name == "receipts" and path.suffix == ".json":
            # The one sanctioned store: the receipt's context keeps the buyer's token for verify (file mode 0600).
            assert path.stat().st_mode & 0o077 == 0
            receipt = json.loads(path.read_text())
            receipt.pop("context")
            texts.append(json.dumps(receipt, ensure_ascii=False))
            continue
        texts.append(path.read_bytes().decode("latin-1"))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                texts += [archive.read(name).decode("latin-1") for name in archive.namelist()]
    return texts
