"""Evidence of a Checkout run that could not finish: screenshot, HTML, frame list and trace, card numbers masked.

What about the card number, which the driver types and the page shows:
- the trace is recorded with DOM snapshots but without the screencast: a snapshot is text (the typed value sits in
  ``__playwright_value_``, the typed text in the action's parameters, the page's JSON in network bodies), so every
  non-image member of the zip is rewritten with the number masked; screencast frames are pictures of the filled
  form, which nothing could mask afterwards, so they are off (Trace Viewer renders the snapshots instead);
- the screenshot masks the card number and CVC fields (Playwright's ``mask``), in whatever frame they were found;
- the HTML, the frame list and every message are scrubbed as text.
The only form written down is ``•••• 4242``. Traces of runs that succeed or decline are discarded.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from smoke.redact import Redactor, default_redactor

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Locator, Page

SCREENSHOT = "checkout-screenshot.png"
HTML = "checkout-page.html"
FRAMES = "checkout-frames.txt"
TRACE = "checkout-trace.zip"
# Trace members that are pictures: they cannot hold typed text, and must not be rewritten byte by byte.
_BINARY = (".png", ".jpeg", ".jpg", ".webp", ".gif", ".woff", ".woff2", ".ttf")


def mask_card(card: str) -> str:
    """``•••• 4242``: the only form of a card number the harness writes down."""
    digits = re.sub(r"\D", "", card)
    return f"•••• {digits[-4:]}" if digits else "a card"


def _card_pattern(card: str, separator: str = r"[\s\-/\u00a0]*") -> str:
    digits = re.sub(r"\D", "", card)
    # The number as typed, as the page formats it ("4242 4242 …"), or split by any separator.
    return separator.join(digits) if digits else r"(?!x)x"


def scrub(text: str, card: str, redactor: Redactor | None = None) -> str:
    """``text`` with ``card`` (in any grouping) and every secret the run's redactor knows (or secret-shaped) masked."""
    text = re.sub(_card_pattern(card), mask_card(card), text)
    return (redactor or default_redactor()).redact(text)


def scrub_bytes(data: bytes, card: str) -> bytes:
    """The byte version of ``scrub`` for the card number alone (trace members that are not text)."""
    pattern = re.compile(_card_pattern(card, r"[\s\-/]*").encode())
    return pattern.sub(mask_card(card).encode(), data)


def scrub_trace(source: Path, target: Path, card: str) -> None:
    """Copy a Playwright trace zip, masking the card number in every member that can hold text."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            # Only the card's own digits: generic masking would corrupt numbers (timestamps) in the trace's JSON.
            if not info.filename.lower().endswith(_BINARY):
                data = scrub_bytes(data, card)
            zout.writestr(info, data)


def frame_tree(page: Page) -> str:
    """One line per frame, indented by depth: its name and URL."""
    lines: list[str] = []

    def walk(frame: Frame, depth: int) -> None:
        detached = " (detached)" if frame.is_detached() else ""
        label = "(main)" if depth == 0 else repr(frame.name)
        lines.append(f"{'  ' * depth}- name={label} url={frame.url}{detached}")
        for child in frame.child_frames:
            walk(child, depth + 1)

    walk(page.main_frame, 0)
    return "\n".join(lines) + "\n"


def page_html(page: Page) -> str:
    """The HTML of every frame, each under a comment naming it."""
    parts = []
    for index, frame in enumerate(page.frames):
        try:
            content = frame.content()
        except Exception as exc:  # noqa: BLE001 - a frame that went away still gets its line
            content = f"<!-- could not read: {type(exc).__name__} -->"
        parts.append(f"<!-- frame {index}: name={frame.name!r} url={frame.url} -->\n{content}\n")
    return "\n".join(parts)


def save(page: Page | None, context: BrowserContext | None, directory: Path, card: str,
         mask: list[Locator], redactor: Redactor | None = None) -> list[Path]:
    """Save what there is to see, card masked everywhere; trace recording stops here. Returns the files saved."""
    directory.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    if page is not None and not page.is_closed():
        try:
            page.screenshot(path=str(directory / SCREENSHOT), full_page=True, mask=mask, timeout=10_000)
            saved.append(directory / SCREENSHOT)
        except Exception:  # noqa: BLE001 - the other artifacts still help
            pass
        for name, produce in ((HTML, page_html), (FRAMES, frame_tree)):
            try:
                (directory / name).write_text(scrub(produce(page), card, redactor), encoding="utf-8")
                saved.append(directory / name)
            except Exception:  # noqa: BLE001
                pass
    if context is not None:
        raw = directory / (TRACE + ".raw")
        try:
            context.tracing.stop(path=str(raw))
            scrub_trace(raw, directory / TRACE, card)
            saved.append(directory / TRACE)
        except Exception:  # noqa: BLE001
            pass
        finally:
            raw.unlink(missing_ok=True)
    return saved
