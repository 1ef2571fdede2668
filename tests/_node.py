"""The `stripe` npm package for tests that check against stripe-node (installed once, on demand)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent.parent / "node_modules" / ".smoke-node"


def node_stripe_dir() -> Path:
    """A folder whose node_modules holds the `stripe` package; installs it with npm the first time."""
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    with open(NODE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers may ask at the same time
        if (NODE_DIR / "node_modules" / "stripe" / "package.json").is_file():
            return NODE_DIR
        npm = shutil.which("npm") or "npm"
        subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent", "stripe@latest"],
                       check=True, capture_output=True, timeout=300)
    return NODE_DIR
