"""Finding a browser, and what the user is told when there is none."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from smoke.checkout import browser as browser_module
from smoke.checkout.driver import pay
from smoke.errors import ConfigError


def test_a_bad_override_path_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SMOKE_CHROMIUM_PATH", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ConfigError) as raised:
        browser_module.chromium_path()
    message = str(raised.value)
    assert "apt-get install -y chromium" in message and "python -m playwright install chromium" in message
    assert message.count(".") <= 2 and "\n" not in message


def test_no_browser_anywhere_says_what_to_install(monkeypatch):
    monkeypatch.delenv("SMOKE_CHROMIUM_PATH", raising=False)
    with pytest.raises(ConfigError) as raised:
        browser_module.chromium_path(None, system=())
    assert str(raised.value) == browser_module.INSTALL_HINT


def test_pay_without_any_browser_raises_config_error(monkeypatch, tmp_path):
    # An empty Playwright browser folder and an override pointing nowhere: nothing can be launched.
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("SMOKE_CHROMIUM_PATH", str(tmp_path / "missing" / "chromium"))
    raised: list[BaseException] = []

    def attempt() -> None:
        try:
            pay("http://127.0.0.1:9/c/pay/cs_test_x#x", timeout=5, artifacts_dir=tmp_path / "a")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            raised.append(exc)

    # Its own thread: Playwright's sync API runs one instance per thread, and the shared browser may hold this one.
    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ConfigError), raised
    assert "apt-get install -y chromium" in str(raised[0])
    assert not (tmp_path / "a").exists()


def test_the_override_wins(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SMOKE_CHROMIUM_PATH", str(fake))
    assert browser_module.chromium_path() == str(fake)


def test_importing_the_harness_does_not_import_playwright():
    code = ("import sys, smoke, smoke.checkout, smoke.checkout.driver, smoke.checkout.browser, smoke.emulator.page; "
            "assert not [m for m in sys.modules if m.startswith('playwright')], 'playwright imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
