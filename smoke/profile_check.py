"""``stripe-smoke profile check``: validate a profile and try its read steps against a target, showing each exchange."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from smoke.errors import ConfigError, SmokeError, TargetUnreachable
from smoke.profiles import Profile, Step, load_profile
from smoke.redact import REDACTOR
from smoke.target import TargetClient, open_target

EXIT_OK, EXIT_FAILED = 0, 1
_SHOWN = 600  # characters of a body shown per exchange


def describe(profile: Profile) -> list[str]:
    """A few lines saying what the profile declares."""
    if profile.state is None:
        effect = "none observable ([supports] state = false): credit checks will skip"
    elif profile.numeric:
        effect = f"{profile.state_value} rises by {profile.delta}"
    else:
        effect = f"{profile.state_value}: {profile.state_from!r} → {profile.state_to!r}"
    lines = [f"profile {profile.name!r} is valid ({profile.source})",
             f"  credit state: {effect}",
             f"  webhook:      POST {profile.webhook_path or '(class)'} acting on {profile.credit_event} "
             f"(API version {profile.api_version}, Content-Type {profile.content_type!r})"]
    if profile.rate_limit_per_minute:
        lines.append(f"  pacing:       {profile.rate_limit_per_minute} requests a minute per route")
    if profile.class_path:
        lines.append(f"  class:        {profile.class_path}")
    return lines


class _Checker:
    """Runs the steps one by one and prints what happened."""

    def __init__(self, client: TargetClient, out: TextIO, create: bool) -> None:
        self.client, self.out, self.create = client, out, create
        self.shown = client.exchange_seq
        self.failed = 0
        self.skipped: list[str] = []

    def say(self, text: str) -> None:
        print(REDACTOR.redact(text), file=self.out)

    def flush_exchanges(self) -> None:
        for exchange in self.client.exchanges:
            if exchange.seq <= self.shown:
                continue
            self.say(f"    {exchange.summary()}")
            if exchange.request_body:
                self.say(f"      sent:     {exchange.request_body[:_SHOWN]}")
            if exchange.response_body:
                self.say(f"      answered: {' '.join(exchange.response_body.split())[:_SHOWN]}")
        self.shown = self.client.exchange_seq

    def step(self, label: str, step: Step, *, authed: bool = True) -> None:
        """Run one step unless it creates something and --no-create was given."""
        given = self._given(step)
        if given is not None:
            self.client.results[step.name] = given
            self.say(f"[{label}] given, not sent: {json.dumps(REDACTOR.redact_data(given))}")
            return
        if step.method != "GET" and not self.create:
            self.skipped.append(step.name)
            self.say(f"[{label}] skipped: {step.method} {step.path} creates something (--no-create)")
            return
        self.say(f"[{label}] {step.method} {step.path}")
        self.show_params(step)
        try:
            data = self.client.run_step(step, authed=authed)
        except ConfigError as exc:
            self.skipped.append(step.name)
            self.say(f"    not run: {exc}")
            return
        except TargetUnreachable:
            raise
        except SmokeError as exc:
            self.flush_exchanges()
            self.failed += 1
            self.say(f"    FAILED: {exc}")
            return
        self.flush_exchanges()
        self.say(f"    values as ${{{step.name}:…}}: {json.dumps(REDACTOR.redact_data(data))[:_SHOWN]}")

    def show_params(self, step: Step) -> None:
        """Print the step's query parameters as they will be sent (when they can be resolved yet)."""
        if not step.params:
            return
        try:
            params = self.client.fill(step.params, f"[{step.name}].params")
        except ConfigError:
            params = step.params
        self.say(f"    query:    {json.dumps(REDACTOR.redact_data(params))}")

    def _given(self, step: Step) -> dict[str, Any] | None:
        if not step.given:
            return None
        try:
            values = self.client.fill(step.given, f"[{step.name}].given")
        except ConfigError:
            return None
        return values if all(v not in (None, "") for v in values.values()) else None

    def state(self) -> None:
        """Read the credit state with what the earlier steps provided (never creating anything here)."""
        profile = self.client.profile
        if profile.state is None:
            self.say("[state] none: the profile declares no observable effect")
            return
        self.say(f"[state] {profile.state.method} {profile.state.path} → {profile.state_value}")
        self.show_params(profile.state)
        self.client.ensure_buyer = lambda: self.client.results.get("buyer")  # type: ignore[method-assign]
        try:
            value = self.client.read_state()
        except ConfigError as exc:
            needs = f" (needs {', '.join(self.skipped)}, not created)" if self.skipped else ""
            self.say(f"    not run{needs}: {exc}")
            return
        except TargetUnreachable:
            raise
        except SmokeError as exc:
            self.flush_exchanges()
            self.failed += 1
            self.say(f"    FAILED: {exc}")
            return
        self.flush_exchanges()
        self.say(f"    value: {value!r} — expected after one payment: {self.client.effect().describe(value)}")


def check_profile(name_or_path: str, base_url: str | None, *, create: bool = True, http_timeout: float = 15.0,
                  out: TextIO | None = None) -> int:
    """Validate the profile; with a base URL run its read-only steps (and, unless ``create`` is off, buyer/setup)."""
    out = out or sys.stdout
    profile = load_profile(name_or_path)
    for line in describe(profile):
        print(line, file=out)
    if not base_url:
        print("no --base-url: validated only (give one to try the steps against the API)", file=out)
        return EXIT_OK
    client = open_target(profile, base_url, webhook_secret=None, http_timeout=http_timeout)
    checker = _Checker(client, out, create)
    try:
        checker.say(f"[health] {(profile.health.method + ' ' + profile.health.path) if profile.health else 'GET /'}")
        response = client.health()
        checker.flush_exchanges()
        if response.status_code >= 500 or response.status_code == 404:
            checker.failed += 1
            checker.say(f"    FAILED: the health route answered {response.status_code}")
        if profile.buyer is not None:
            checker.step("buyer", profile.buyer, authed=False)
        for step in profile.setup:
            checker.step(f"setup {step.name}{' (per check)' if step.per_check else ''}", step)
        checker.state()
    finally:
        client.close()
    if profile.purchase is not None:
        checker.say(f"[purchase] not run: {profile.purchase.method} {profile.purchase.path} starts a payment")
    checker.say(f"[webhook] not sent: the checks deliver signed events to {profile.webhook_path}")
    verdict = "all steps answered as the profile expects" if not checker.failed else f"{checker.failed} step(s) failed"
    checker.say(verdict)
    return EXIT_OK if not checker.failed else EXIT_FAILED
