"""Read the files a person hands the harness (profiles, receipts, event bodies): bounded, regular, UTF-8."""

from __future__ import annotations

import codecs
import errno
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from smoke.errors import ConfigError

LIMIT = 1_000_000
# Deeper than this is a mistake or an attack: the code that walks these values (placeholders, redaction) recurses.
MAX_DEPTH = 100

_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_text(path: Path, what: str, *, limit: int = LIMIT, follow_symlinks: bool = True) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; any problem is a ConfigError naming ``what``."""
    name = f"{what[:1].upper()}{what[1:]} {path}"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        if os.path.islink(path):
            raise _symlink(name)
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(f"{name} does not exist; check the path.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise _symlink(name) from None
        if exc.errno == errno.EISDIR:
            raise ConfigError(f"{name} is a directory, not a file; pass the {what} file itself.") from None
        raise ConfigError(f"{name} cannot be read ({exc.strerror}); check the path and the file's permissions.") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise ConfigError(f"{name} is {kind}, not a regular file; pass the {what} file itself.")
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise ConfigError(f"{name} cannot be read ({exc.strerror}); check the file.") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ConfigError(f"{name} is larger than {limit:,} bytes, far more than a {what} holds; pass the right file.")
    return _decode(data, name)


def read_toml(path: Path, what: str, *, limit: int = LIMIT) -> dict[str, Any]:
    """A TOML file's tables, read with ``read_text``; bad syntax or nesting deeper than MAX_DEPTH is a ConfigError."""
    text = read_text(path, what, limit=limit)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that line.") from None
    except RecursionError:
        raise _too_deep(path, what) from None
    check_depth(data, path, what)
    return data


def read_json(path: Path, what: str, *, limit: int = LIMIT, follow_symlinks: bool = True,
              fix: str = "fix it or pass the right file") -> Any:
    """A JSON file's value, read with ``read_text``; bad JSON (then ``fix`` is the advice) or deep nesting is a ConfigError."""
    text = read_text(path, what, limit=limit, follow_symlinks=follow_symlinks)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what[:1].upper()}{what[1:]} {path} is not readable JSON ({exc}); {fix}.") from None
    except RecursionError:
        raise _too_deep(path, what) from None
    check_depth(data, path, what)
    return data


def check_depth(data: Any, path: Path, what: str, *, limit: int = MAX_DEPTH) -> None:
    """Refuse tables and lists nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    raise _too_deep(path, what)
                stack.append((child, depth + 1))


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decode(data: bytes, name: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith(_UTF16_32_BOMS) or (len(data) >= 2 and b"\x00" in data[:2]):
        raise ConfigError(f"{name} must be UTF-8 text, and it looks like UTF-16 or UTF-32; save it as UTF-8.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name} must be UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start} is not; "
                          "Latin-1 or Windows-1252?); save it as UTF-8.") from None


def _symlink(name: str) -> ConfigError:
    return ConfigError(f"{name} is a symbolic link, which stripe-smoke does not follow for this file; "
                       "pass the file itself.")


def _too_deep(path: Path, what: str) -> ConfigError:
    return ConfigError(f"{what[:1].upper()}{what[1:]} {path} nests tables or lists more than {MAX_DEPTH} levels deep; "
                       "flatten it or pass the right file.")
