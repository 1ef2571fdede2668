"""Find and launch a Chromium for the Checkout driver: Playwright's own if installed, else the system's."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from smoke.errors import ConfigError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ENV_VAR = "SMOKE_CHROMIUM_PATH"
# On a closed network Chromium otherwise spends its start-up trying to reach Google.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
SYSTEM_BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
                   "/usr/bin/google-chrome-stable", "chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = ("No Chromium found for the Checkout driver: install one with `apt-get install -y chromium` or "
                "`python -m playwright install chromium`, or set SMOKE_CHROMIUM_PATH to a Chromium executable.")


def _executable(path: str) -> str | None:
    found = shutil.which(path)
    return found if found and os.access(found, os.X_OK) else None


def chromium_path(playwright: Playwright | None = None, system: Sequence[str] = SYSTEM_BROWSERS) -> str:
    """The Chromium to launch: ``$SMOKE_CHROMIUM_PATH``, Playwright's download, or a system one; else ConfigError."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        found = _executable(override)
        if found is None:
            raise ConfigError(f"{ENV_VAR} is {override!r}, which is not an executable Chromium: fix the path, or "
                              "unset it after installing one with `apt-get install -y chromium` or "
                              "`python -m playwright install chromium`.")
        return found
    if playwright is not None:
        try:
            own = playwright.chromium.executable_path
        except Exception:  # noqa: BLE001 - an unusable Playwright install just means "not installed"
            own = ""
        if own and _executable(own):
            return own
    for candidate in system:
        found = _executable(candidate)
        if found:
            return found
    raise ConfigError(INSTALL_HINT)


def launch(playwright: Playwright, *, headless: bool = True, system: Sequence[str] = SYSTEM_BROWSERS) -> Browser:
    """Launch the Chromium ``chromium_path`` finds, with the flags a closed network needs; one sentence if it fails."""
    from playwright.sync_api import Error as PlaywrightError

    path = chromium_path(playwright, system)
    try:
        return playwright.chromium.launch(executable_path=path, headless=headless, args=list(CHROMIUM_ARGS))
    except PlaywrightError as exc:
        # Playwright's message is a long log; its first line says what happened.
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConfigError(f"Chromium at {path} failed to start ({first[:160]}); install a working one with "
                          "`apt-get install -y chromium` or `python -m playwright install chromium`, or point "
                          f"{ENV_VAR} at one.") from None


def start_playwright() -> Playwright:
    """Start Playwright's sync API (imported here, never at import time); ConfigError when it is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigError("The Checkout driver needs Playwright: `pip install playwright`, then "
                          "`apt-get install -y chromium` or `python -m playwright install chromium`.") from None
    return sync_playwright().start()


@contextmanager
def open_browser(*, headless: bool = True) -> Iterator[Browser]:
    """A launched Chromium for the duration of the block; Playwright is stopped afterwards."""
    playwright = start_playwright()
    try:
        browser = launch(playwright, headless=headless)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
