"""The plugin stays in its lane: other people's tests are untouched, its imports are light, its settings traceable."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

import pytest

UNRELATED = '''
import pytest

def test_passes():
    assert 1 + 1 == 2

def test_unrelated():
    value = {"a": 1}
    assert value == {"a": 2}, "a plain failure with a message"

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

@pytest.fixture
def broken():
    raise RuntimeError("fixture failed")

def test_error(broken):
    pass

def test_output(capsys):
    print("hello")
    raise ValueError("with captured output")
'''


def _normal_junit(path: Path) -> str:
    text = re.sub(r'(time|timestamp|hostname)="[^"]*"', r'\1=""', path.read_text())
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


def _normal_output(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(("plugins:", "cachedir:"))]
    text = re.sub(r"in \d+\.\d+s", "in Ns", "\n".join(lines))
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


def test_an_unrelated_project_is_byte_identical_with_and_without_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated=UNRELATED)
    runs = {}
    for name, extra in (("with", ()), ("without", ("-p", "no:stripe_smoke"))):
        result = pytester.runpytest_subprocess("-rA", "--color=no", f"--junitxml={name}.xml", *extra)
        assert result.ret == 1
        runs[name] = (_normal_output(result.stdout.str()).replace(f"{name}.xml", "X.xml"),
                      _normal_junit(pytester.path / f"{name}.xml"))
    assert "FAILED test_unrelated.py::test_unrelated - AssertionError: a plain fa" in runs["with"][0]
    for a, b in zip(runs["with"], runs["without"], strict=False):
        assert a == b, "\n".join(difflib.unified_diff(b.splitlines(), a.splitlines(), lineterm=""))
    assert not (pytester.path / "reports").exists(), "the plugin wrote reports for a project that isn't the harness"


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = ("import sys, smoke.plugin; heavy = {'httpx', 'flask', 'stripe', 'playwright', 'allure', 'jwt', 'dotenv'};"
            "print(sorted(heavy & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_unknown_capability_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_custom='''
import pytest

@pytest.mark.smoke_needs("refundz")
def test_refund(smoke):
    pass
''')
    result = pytester.runpytest_subprocess("--target", "demo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*smoke_needs('refundz')* is not a capability; use one of *refunds*"])


def test_ini_settings_and_their_sources_are_in_the_header_with_secrets_masked(pytester: pytest.Pytester,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "whsec_" + "Zq9" * 10
    for name in ("STRIPE_WEBHOOK_SECRET", "SMOKE_SETTLE_SECONDS", "SMOKE_CARD", "SMOKE_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMOKE_CARD", "4000000000003220")
    pytester.makefile(".ini", pytest=f"[pytest]\nsmoke_settle = 0.3\nsmoke_webhook_secret = {secret}\n")
    result = pytester.runpytest_subprocess("--pyargs", "smoke.suites", "--collect-only", "--target", "demo")
    header = next(line for line in result.stdout.lines if line.startswith("stripe-smoke:"))
    assert "target=demo (--target)" in header
    assert "settle=0.3 (ini smoke_settle)" in header
    assert "webhook_secret=[redacted] (ini smoke_webhook_secret)" in header
    assert "card=…3220 (SMOKE_CARD)" in header
    assert secret not in result.stdout.str() + result.stderr.str()
