"""``pip install .`` carries the fixtures inside the wheel, and the plugin is registered with pytest."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_fixtures_and_finds_them_installed(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("stripe_smoke-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "smoke/fixtures/events/checkout.session.completed.json" in names
    assert "smoke/fixtures/profiles/demo.toml" in names
    assert "smoke/fixtures/stripe/LICENSE-stripe-openapi" in names
    assert "smoke/py.typed" in names, "type checkers would ignore the public API's annotations (PEP 561)"
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[pytest11]" in entry_points and "smoke.plugin" in entry_points and "stripe-smoke = smoke.cli:main" in entry_points

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = ("from smoke._data import fixtures_dir; from smoke.profiles import load_profile; "
             "print(fixtures_dir()); print(load_profile('demo').name)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, cwd=tmp_path).stdout.split()
    assert out == [str(target / "smoke" / "fixtures"), "demo"]
