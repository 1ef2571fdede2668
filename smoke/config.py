"""Settings: command-line options, then environment variables, then a ``.env`` file, then defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from smoke.errors import ConfigError


@dataclass(frozen=True)
class Option:
    """One setting: its pytest/CLI flag, environment variable, type, default and help."""

    name: str
    flag: str
    env: str | None
    kind: type
    default: Any
    help: str
    secret: bool = False
    masked: bool = False  # not a secret, but shown only by its last four characters (a card number)
    minimum: float | None = 0  # numbers: the least value allowed (None: any)
    positive: bool = False  # numbers: must be above zero (a timeout, a deadline)
    maximum: float | None = None  # numbers: the most allowed (a day, for seconds: a larger figure is a typo)

    def help_text(self) -> str:
        """The option's help line: what it does, its default (when it has one) and its environment variable."""
        default = "" if self.default is None or self.kind is bool else f" (default: {self.default})"
        env = f" [env {self.env}]" if self.env else ""
        return self.help + default + env

    def shown(self, value: Any) -> Any:
        """The value as a report may show it."""
        if value in (None, ""):
            return value
        if self.secret:
            return "[redacted]"
        if self.masked:
            return "…" + str(value)[-4:]
        return value


DAY = 86400.0
OPTIONS: tuple[Option, ...] = (
    Option("target", "--target", "SMOKE_TARGET", str, "demo",
           "profile name (demo, topups, …) or path to a profile .toml"),
    Option("base_url", "--base-url", "BASE_URL", str, None,
           "base URL of the billing API under test; without it the profile's embedded target is started"),
    Option("webhook_secret", "--webhook-secret", "STRIPE_WEBHOOK_SECRET", str, None,
           "the target's webhook signing secret (whsec_…); prefer the environment variable", secret=True),
    Option("stripe_api_key", "--stripe-api-key", "STRIPE_API_KEY", str, None,
           "Stripe test-mode key (sk_test_/rk_test_) for checks that ask Stripe", secret=True),
    Option("stripe_api_base", "--stripe-api-base", "STRIPE_API_BASE", str, None,
           "Stripe API base URL (default https://api.stripe.com; a local emulator's URL offline)"),
    Option("timeout", "--smoke-timeout", "SMOKE_TIMEOUT", float, 10.0,
           "seconds to wait for the credit to appear", positive=True, maximum=DAY),
    Option("settle", "--settle-seconds", "SMOKE_SETTLE_SECONDS", float, 0.2,
           "seconds the state must stay unchanged after an event that must not credit", maximum=DAY),
    Option("ack_seconds", "--ack-seconds", "SMOKE_ACK_SECONDS", float, 10.0,
           "the webhook must answer within this many seconds", positive=True, maximum=DAY),
    Option("http_timeout", "--http-timeout", "SMOKE_HTTP_TIMEOUT", float, 15.0,
           "timeout of every HTTP request, in seconds", positive=True, maximum=DAY),
    Option("rate_limit", "--rate-limit", "SMOKE_RATE_LIMIT", int, None,
           "never send more than this many requests a minute per route (default: the profile's)", minimum=1),
    Option("duplicates", "--duplicates", "SMOKE_DUPLICATES", int, 10,
           "how many copies of one event the concurrency check sends at once", minimum=2),
    Option("burst", "--burst", "SMOKE_BURST", int, 50,
           "how many distinct payments the burst check delivers at once (2–500)", minimum=2, maximum=500),
    Option("seed", "--smoke-seed", "SMOKE_SEED", int, None,
           "seed for the shuffled event order (printed on failure to reproduce it)", minimum=None),
    Option("production", "--production", "SMOKE_PRODUCTION", bool, False,
           "mark the target as production (simulated-credit checks are then refused)"),
    Option("allow_production", "--allow-production", "SMOKE_ALLOW_PRODUCTION", bool, False,
           "run simulated-credit checks even against a production target"),
    Option("phase", "--phase", "SMOKE_PHASE", str, None,
           "real Checkout: all, create-only or verify-only (default: all against the embedded demo, off otherwise)"),
    Option("payer", "--payer", "SMOKE_PAYER", str, "browser",
           "who pays in the Checkout check: browser (Playwright), api (Stripe test mode) or person"),
    Option("card", "--card", "SMOKE_CARD", str, "4242424242424242", "test card the payer uses",
           masked=True),
    Option("receipt_file", "--receipt-file", "SMOKE_RECEIPT_FILE", str, None,
           "receipt to verify with --phase verify-only"),
    Option("verify_deadline", "--verify-deadline", "SMOKE_VERIFY_DEADLINE", float, 600.0,
           "seconds verify waits for the credit of a real payment", positive=True, maximum=DAY),
    Option("reports_dir", "--reports-dir", "SMOKE_REPORTS_DIR", str, "reports",
           "folder for receipts, artifacts and summaries"),
    Option("api_version", "--api-version", "SMOKE_API_VERSION", str, None,
           "Stripe API version to shape simulated events for (default: the profile's [webhook] api_version)"),
)

_TRUE = {"1", "true", "yes", "on"}
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, resolved and validated."""

    target: str = "demo"
    base_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_key: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    timeout: float = 10.0
    settle: float = 0.2
    ack_seconds: float = 10.0
    http_timeout: float = 15.0
    rate_limit: int | None = None
    duplicates: int = 10
    burst: int = 50
    seed: int | None = None
    production: bool = False
    allow_production: bool = False
    phase: str | None = None
    payer: str = "browser"
    card: str = "4242424242424242"
    receipt_file: str | None = None
    verify_deadline: float = 600.0
    reports_dir: str = "reports"
    api_version: str | None = None


def _convert(option: Option, raw: Any, source: str) -> Any:
    if raw is None or (isinstance(raw, option.kind) and not isinstance(raw, str)) or option.kind is str:
        return raw if not isinstance(raw, str) else raw.strip()
    text = str(raw).strip()
    if option.kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{source} must be true or false, not {text!r}.")
    return check_number(option.kind(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else text,
                        source, kind=option.kind, minimum=option.minimum, positive=option.positive,
                        maximum=option.maximum)


def check_number(raw: Any, source: str, *, kind: type = float, minimum: float | None = 0, positive: bool = False,
                 maximum: float | None = None) -> Any:
    """``raw`` as an int or a finite float within bounds, or a ConfigError naming ``source``."""
    import math

    try:
        value = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source} must be {'a whole number' if kind is int else 'a number'}, not {raw!r}.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source} must be a finite number of seconds, not {raw!r}.")
    if positive and value <= 0:
        raise ConfigError(f"{source} must be greater than 0, not {raw!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{source} must be at least {minimum:g}, not {raw!r}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{source} must be at most {maximum:g}, not {raw!r}.")
    return value


def resolve_settings(given: dict[str, Any] | None = None, environ: dict[str, str] | None = None, *,
                     ini: dict[str, str] | None = None, sources: dict[str, str] | None = None) -> Settings:
    """Merge options given explicitly (None = not given) over the environment, then ``ini`` (pytest.ini /
    pyproject values), then defaults, and validate; ``sources`` (when given) is filled with where each came from."""
    given = given or {}
    environ = dict(os.environ) if environ is None else environ
    ini = ini or {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw, source = given.get(option.name), option.flag
        if raw is None and option.env and environ.get(option.env, "") != "":
            raw, source = environ[option.env], option.env
        if raw is None and option.name == "stripe_api_key" and environ.get("STRIPE_SECRET_KEY"):
            raw, source = environ["STRIPE_SECRET_KEY"], "STRIPE_SECRET_KEY"
        if raw is None and ini.get(option.name, "") != "":
            raw, source = ini[option.name], f"ini smoke_{option.name}"
        if sources is not None:
            sources[option.name] = "default" if raw is None else source
        values[option.name] = option.default if raw is None else _convert(option, raw, source)
    settings = Settings(**{f.name: values[f.name] for f in fields(Settings)})
    if settings.base_url:
        object.__setattr__(settings, "base_url", check_base_url(settings.base_url))
    if settings.stripe_api_key:
        check_stripe_key(settings.stripe_api_key)
    if settings.phase not in (None, "all", "create-only", "verify-only", "off"):
        raise ConfigError(f"--phase must be all, create-only, verify-only or off, not {settings.phase!r}.")
    if settings.api_version and not _API_VERSION.fullmatch(settings.api_version):
        raise ConfigError(f"--api-version must be a Stripe API version such as 2025-04-30.basil or 2022-08-01, "
                          f"not {settings.api_version!r}.")
    if settings.payer not in ("browser", "api", "person"):
        raise ConfigError(f"SMOKE_PAYER must be browser, api or person, not {settings.payer!r}.")
    return settings


def check_base_url(url: str, what: str = "BASE_URL") -> str:
    """Return ``url`` without a trailing slash, or raise if it is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 — raises on a port that is not a number or out of range
    except ValueError:
        raise ConfigError(f"{what} must be an http(s) URL such as https://staging.example.com, not {url!r}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http(s) URL such as https://staging.example.com, not {url!r}.")
    return url.strip().rstrip("/")


def check_stripe_key(key: str, *, allow_live: bool = False) -> str:
    """Accept test-mode secret or restricted keys only; refuse live keys."""
    key = key.strip()
    if key.startswith(("sk_live_", "rk_live_")) and not allow_live:
        raise ConfigError(
            "Refusing a live Stripe key: stripe-smoke only runs in test mode; "
            "use a sk_test_… or rk_test_… key from the Dashboard's test mode."
        )
    if not key.startswith(("sk_test_", "rk_test_", "sk_live_", "rk_live_")):
        raise ConfigError("The Stripe API key must be a secret or restricted test key (sk_test_… or rk_test_…).")
    return key


def load_env_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """Load ``.env`` (or ``path``) into the environment without overriding what is already set."""
    from dotenv import find_dotenv, load_dotenv

    found = str(path) if path else find_dotenv(usecwd=True)
    if path and not Path(path).is_file():
        raise ConfigError(f"The env file {path} does not exist; check --env-file.")
    if found:
        load_dotenv(found, override=False)
        return Path(found)
    return None
