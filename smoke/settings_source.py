"""Where a pytest run's settings come from: options, environment (``.env``, ``--secret-file``), pytest.ini, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.config import OPTIONS, Settings, load_env_file, resolve_settings
from smoke.errors import ConfigError
from smoke.redact import Redactor

_CACHE = pytest.StashKey[tuple[Settings, dict[str, str]]]()
_REDACTOR = pytest.StashKey[Redactor]()


def run_redactor(config: pytest.Config) -> Redactor:
    """This pytest run's redactor (kept in the config's stash): the secrets the run learns join it, its reports use it."""
    if _REDACTOR not in config.stash:
        config.stash[_REDACTOR] = Redactor()
    return config.stash[_REDACTOR]


def ini_values(config: pytest.Config) -> dict[str, str]:
    """The ``smoke_*`` values set in pytest.ini / pyproject.toml (empty ones left out)."""
    values = {}
    for option in OPTIONS:
        value = config.getini(f"smoke_{option.name}")
        if value not in ("", None, []):
            values[option.name] = str(value)
    return values


def load_secret_file(path: str | None, redactor: Redactor) -> None:
    """Read a dotenv-style file of secrets into the environment (not overriding it) and register every value."""
    if not path:
        return
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"The secret file {path} does not exist; check --secret-file (SMOKE_SECRET_FILE).")
    from dotenv import dotenv_values

    values = dotenv_values(file)
    for _name, value in values.items():
        redactor.add(value)
    load_env_file(file)


def settings_for(config: pytest.Config) -> tuple[Settings, dict[str, str]]:
    """The run's settings and, for each, where it came from (resolved once per session)."""
    if _CACHE in config.stash:
        return config.stash[_CACHE]
    import os

    load_env_file(config.getoption("smoke_env_file") or config.getini("smoke_env_file") or None)
    load_secret_file(config.getoption("smoke_secret_file") or os.environ.get("SMOKE_SECRET_FILE")
                     or config.getini("smoke_secret_file") or None, run_redactor(config))
    given = {o.name: config.getoption(f"smoke_{o.name}") for o in OPTIONS}
    sources: dict[str, str] = {}
    settings = resolve_settings(given, ini=ini_values(config), sources=sources)
    for option in OPTIONS:
        if option.secret:
            run_redactor(config).add(getattr(settings, option.name))
    config.stash[_CACHE] = (settings, sources)
    return settings, sources


def header_lines(config: pytest.Config) -> list[str]:
    """The report header: each setting, its value (secrets masked) and where it came from."""
    try:
        settings, sources = settings_for(config)
    except ConfigError:
        return []  # the fixture reports it, once, with its exit code
    parts = []
    for option in OPTIONS:
        value = getattr(settings, option.name)
        if value in (None, "") and sources.get(option.name) == "default":
            continue
        parts.append(f"{option.name}={option.shown(value)} ({sources.get(option.name, 'default')})")
    return ["stripe-smoke: " + ", ".join(parts)]
