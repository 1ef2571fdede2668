"""Keep secrets out of everything a person or a CI system sees."""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "[redacted]"

# Names of fields and headers that hold credentials, wherever they appear (access_token, X-API-Key, refreshToken…).
_KEYWORD = re.compile(r"(?i)token|secret|password|passwd|api[_-]?key|apikey|credential|private[_-]?key|authorization"
                      r"|cookie")
# A name made of these characters; the two patterns that use it mask the value only when the name holds a _KEYWORD
# (checked on the name alone: a pattern with the keywords inside tried every word at every offset, the run's slowest).
_NAME = r"(?P<name>[A-Za-z0-9_-]+)"

# Shapes of secrets worth hiding even when nobody registered them.
_PATTERNS = [
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{8,}"),
    # JSON Web Tokens: three base64url parts, the first a JSON header ("eyJ").
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # "access_token": "…" in JSON (also escaped inside JSON strings), name=… in forms and query strings,
    # Name: … in header dumps (Authorization, Cookie, Set-Cookie, X-API-Key).
    re.compile(r'(?i)((?:\\?")' + _NAME + r'(?:\\?")\s*:\s*(?:\\?"))((?:[^"\\]|\\[^"])+)'),
    # (A value already masked is left alone, so redacting twice does not eat the text after the mask.)
    re.compile(r'(?i)((?<![A-Za-z0-9_])' + _NAME + r'=)(?!\[redacted\](?![A-Za-z0-9]))([^"\s,}&;]{3,})'),
    re.compile(r"(?im)(^\s*(?:authorization|cookie|set-cookie|x-api-key|api-key)\s*:\s*)(\S.*)$"),
    # Card numbers: 13-19 digits, optionally grouped by spaces or dashes.
    re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
]
# What every match of each pattern contains (case-folded), so a text without any of it skips the pattern: most texts
# (event bodies, JSON answers) hold none, and the name patterns cost most of a run's redaction time. None: always run.
_NAMES = ("token", "secret", "passw", "key", "credential", "authorization", "cookie")
_NEEDLES: list[tuple[str, ...] | None] = [("_test_", "_live_"), ("whsec_",), ("eyj",), ("bearer", "basic"),
                                          _NAMES, _NAMES, _NAMES, None]
# And a character every match needs (name=value needs "=", a header line ":"): JSON bodies rarely hold "=".
_REQUIRED = ["", "", "", "", ":", "=", ":", ""]
_REMEMBERED = 2048  # redacted texts kept per redactor (each at most _LONGEST characters)
_LONGEST = 65536


class Redactor:
    """Replaces known secret values and secret-shaped strings with a mask."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        # Texts already redacted with today's secrets: evidence shows each exchange several times (a line per check,
        # its report section, its attachment), about six redactions of the same text in a run.
        self._done: dict[str, str] = {}
        self._generation = 0  # how many secrets were added: a redaction begun before one is not remembered

    def add(self, value: Any) -> None:
        """Remember a secret value (ignores empty and very short values)."""
        if isinstance(value, str) and len(value) >= 6:
            with self._lock:
                if value not in self._values:
                    self._values.add(value)
                    self._generation += 1
                    self._done.clear()  # a new secret: what was redacted before may hold it

    def add_all(self, value: Any) -> None:
        """Remember every string inside ``value`` (a string, or a JSON-like structure of them)."""
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            for item in value:
                self.add_all(item)
        else:
            self.add(value)

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret and secret-shaped string masked."""
        if not text:
            return text
        with self._lock:
            done = self._done.get(text)
            if done is not None:
                return done
            values = sorted(self._values, key=len, reverse=True)
            generation = self._generation
        redacted = self._redact(text, values)
        with self._lock:
            if generation == self._generation and len(text) <= _LONGEST:
                if len(self._done) >= _REMEMBERED:
                    self._done.clear()  # a run's evidence repeats within a check or two: start afresh
                self._done[text] = redacted
        return redacted

    def _redact(self, text: str, values: list[str]) -> str:
        """``text`` with ``values`` and every secret-shaped string masked."""
        for value in values:
            text = text.replace(value, MASK)
        folded = text.casefold()
        for pattern, needles, required in zip(_PATTERNS, _NEEDLES, _REQUIRED, strict=True):
            if required not in text or (needles is not None and not any(needle in folded for needle in needles)):
                continue
            if "name" in pattern.groupindex:
                text = _mask_named(pattern, text)
            elif pattern.groups:
                text = pattern.sub(lambda m: m.group(1) + MASK, text)
            else:
                text = _mask_digits(pattern, text) if pattern is _PATTERNS[-1] else pattern.sub(MASK, text)
        return text

    def redact_data(self, data: Any) -> Any:
        """Redact every string inside a JSON-like structure."""
        if isinstance(data, dict):
            return {k: self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.redact_data(v) for v in data]
        if isinstance(data, str):
            return self.redact(data)
        return data


def _mask_named(pattern: re.Pattern[str], text: str) -> str:
    """Mask the value after each credential's name; after any other name, look again right after it (a credential's
    name may sit inside what would have been that name's value)."""
    out, pos = [], 0
    while (match := pattern.search(text, pos)) is not None:
        if _KEYWORD.search(match.group("name")):
            out.append(text[pos:match.start()] + match.group(1) + MASK)
            pos = match.end()
        else:
            out.append(text[pos:match.end("name")])
            pos = match.end("name")
    out.append(text[pos:])
    return "".join(out)


def _mask_digits(pattern: re.Pattern[str], text: str) -> str:
    """Mask card-like digit runs but keep the last four, as receipts do (•••• 4242)."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if not 13 <= len(digits) <= 19 or not _luhn_ok(digits):
            return match.group(0)
        return f"•••• {digits[-4:]}"

    return pattern.sub(mask, text)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


# A run's own redactor travels with the run (the pytest config's stash, the run context, the CLI command); this one
# is for the few places no run reaches (a check's failure message, a schema error, the Checkout driver's evidence),
# and it still masks every secret-shaped string.
_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide fallback redactor, for code that is handed no run's redactor."""
    return _DEFAULT

