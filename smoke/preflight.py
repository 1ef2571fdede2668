"""What a run checks once, before any check is collected or any xdist worker starts: settings, profile, variables,
secret, reports folder and, against a deployed target, that it answers at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.errors import ConfigError


def check_reports_dir(folder: str | Path) -> Path:
    """The reports folder, created if missing; a ConfigError when it can't be (a file in the way, no permission)."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the reports folder {folder} ({exc.strerror or type(exc).__name__}); "
                          "pass --reports-dir (or SMOKE_REPORTS_DIR) naming a folder you can write.") from None
    if not path.is_dir():
        raise ConfigError(f"The reports folder {folder} is not a folder; pass --reports-dir naming a folder.")
    return path


def preflight(config: pytest.Config, *, reach_target: bool = True) -> None:
    """Raise the run's first SmokeError (configuration: exit 4; an unreachable target: exit 3), or return."""
    from smoke.profiles import check_variables, load_profile
    from smoke.settings_source import run_redactor, settings_for
    from smoke.signing import check_webhook_secret

    settings, _ = settings_for(config)
    profile = load_profile(settings.target)
    check_variables(profile)
    check_reports_dir(settings.reports_dir)
    if not settings.base_url:
        if not profile.embedded:
            raise ConfigError(f"The {profile.name} profile has no embedded target; pass --base-url (or BASE_URL) "
                              "with the API's address.")
        return
    check_webhook_secret(settings.webhook_secret)
    if reach_target:
        from smoke.target import open_target

        client = open_target(profile, settings.base_url, webhook_secret=settings.webhook_secret,
                             http_timeout=settings.http_timeout, rate_limit_per_minute=settings.rate_limit,
                             redactor=run_redactor(config))
        try:
            client.health()
        finally:
            client.close()


def write_stopped_junit(path: str | Path, message: str, exit_code: int) -> None:
    """A JUnit file saying the run stopped before any check (one errored case), so a CI gate reading it sees why.

    Best effort: when the file cannot be written (the reports folder itself is the problem) stderr already says so."""
    from xml.etree import ElementTree as ET

    suite = ET.Element("testsuite", name="stripe-smoke", tests="1", errors="1", failures="0", skipped="0")
    case = ET.SubElement(suite, "testcase", classname="stripe-smoke", name="preflight")
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="stripe_smoke_exit_code", value=str(exit_code))
    error = ET.SubElement(case, "error", message=message)
    error.text = message
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        root = ET.Element("testsuites")
        root.append(suite)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    except OSError:
        pass
