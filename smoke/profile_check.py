"""``stripe-smoke profile check``: validate a profile and try every step a run needs against a target, showing each exchange."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from smoke import commands
from smoke.errors import ConfigError, SmokeError, TargetUnreachable
from smoke.placeholders import Missing, json_path, resolve_shown
from smoke.profiles import Profile, Step, check_variables, load_profile
from smoke.redact import Redactor
from smoke.target import TargetClient, open_target

# 4: the profile does not match the API (a purchase answering 4xx, not JSON, or without the fields it names).
EXIT_OK, EXIT_FAILED, EXIT_MISMATCH = 0, 1, ConfigError.exit_code
_SHOWN = 600  # characters of a body shown per exchange
_PURCHASE_FIELDS = {"session_id": "session id:    ", "checkout_url": "checkout URL:  ", "payment_intent": "payment intent:"}
_WHAT = {"session_id": "the Checkout Session id", "checkout_url": "the Checkout URL", "payment_intent": "the PaymentIntent id"}


def credit_state(profile: Profile, show: Callable[[Any], Any] | None = None) -> str:
    """The ``credit state:`` line: where the state is and what one payment does to it, filled by ``show``."""
    show = show or (lambda value: value)
    if profile.state is None:
        effect = "none observable ([supports] state = false): credit checks will skip"
    elif profile.numeric:
        effect = f"{show(profile.state_value)} rises by {show(profile.delta)}"
    else:
        effect = f"{show(profile.state_value)}: {show(profile.state_from)!r} → {show(profile.state_to)!r}"
    return f"  credit state: {effect}"


def describe(profile: Profile, show: Callable[[Any], Any] | None = None, *, state: bool = True) -> list[str]:
    """A few lines saying what the profile declares, placeholders filled by ``show`` (as written without it)."""
    lines = [f"profile {profile.name!r} is valid ({profile.source})",
             *([credit_state(profile, show)] if state else []),
             f"  webhook:      POST {profile.webhook_path or '(class)'} acting on {profile.credit_event} "
             f"(API version {profile.api_version}, Content-Type {profile.content_type!r})"]
    if profile.rate_limit_per_minute or profile.rate_limits:
        import fnmatch

        paced = [f"{pattern} {rate}/min" for pattern, rate in profile.rate_limits.items()]
        if profile.rate_limit_per_minute:
            paced.append(f"{'other routes' if paced else 'every route'} {profile.rate_limit_per_minute}/min")
        if profile.webhook_path and not any(fnmatch.fnmatchcase(profile.webhook_path, p) for p in profile.rate_limits):
            paced.append(f"the webhook {profile.webhook_path} unpaced")
        lines.append(f"  pacing:       {', '.join(paced)} (a 429's Retry-After and RateLimit-* headers slow a route down)")
    if profile.class_path:
        lines.append(f"  class:        {profile.class_path}")
    return lines


def _origin(name: str) -> str:
    """Which step provides ``${name:…}``."""
    return {"buyer": "the [buyer] step", "purchase": "the [purchase] step"}.get(name, f"the setup step {name!r}")


class _Checker:
    """Runs the steps one by one and prints what happened."""

    def __init__(self, client: TargetClient, out: TextIO, create: bool, *, later: str = "run below") -> None:
        self.client, self.out, self.create = client, out, create
        self.shown = client.exchange_seq
        self.failed = 0
        self.mismatched = 0
        self.skipped: list[str] = []
        profile = client.profile
        # Why a step's values are not there (yet): shown as "(unresolved: …)" wherever they are used.
        self.why: dict[str, str] = {step.name: f"comes from {_origin(step.name)}, {later}"
                                    for step in (profile.buyer, *profile.setup, profile.purchase) if step is not None}

    def say(self, text: str) -> None:
        """Print ``text``, redacted with the run's redactor."""
        print(self.client.redactor.redact(text), file=self.out)

    def show(self, value: Any) -> Any:
        """``value`` with every placeholder resolved, or ``(unresolved: why)`` where it cannot be yet."""
        return resolve_shown(value, self.client.context.sources(), self.reason)

    def reason(self, exc: Missing) -> str:
        """Why a placeholder has no value, in words (never as a placeholder)."""
        source, key = exc.source, exc.key
        var = self.client.profile.vars.get(key or "") if source == "var" else None
        if var is not None:
            return f"set {var.env}" if var.env else f"give the variable {key!r} a default"
        if source == "var":
            return f"no [vars] entry called {key!r}"
        if source is not None and source not in self.client.context.sources() and source != "env":
            return self.why.get(source, f"no step called {source!r} provides it")
        if source is not None and source != "env":
            return f"{_origin(source)} answered without {key!r}"
        return str(exc)

    def blockers(self, *values: Any) -> str:
        """Why ``values`` cannot be resolved yet ("" when they can)."""
        found: list[str] = []

        def note(exc: Missing) -> str:
            found.append(self.reason(exc))
            return ""

        resolve_shown(list(values), self.client.context.sources(), note)
        return "; ".join(dict.fromkeys(found))

    def flush_exchanges(self) -> None:
        """Print each exchange sent since the last flush (redacted), with its bodies cut short."""
        for exchange in self.client.exchanges:
            if exchange.seq <= self.shown:
                continue
            self.say(f"    {exchange.summary()}")
            if exchange.request_body:
                self.say(f"      sent:     {exchange.request_body[:_SHOWN]}")
            if exchange.response_body:
                label = "printed: " if exchange.method == commands.RUN else "answered:"
                self.say(f"      {label} {' '.join(exchange.response_body.split())[:_SHOWN]}")
        self.shown = self.client.exchange_seq

    def _inputs(self, step: Step, authed: bool) -> list[Any]:
        """Everything a step fills in before it is sent (or run)."""
        if step.command:
            return [list(step.command), step.env, step.cwd]
        auth = self.client.profile.auth_headers if authed and not step.base_url else {}  # never sent to another base URL
        return [step.base_url, step.path, step.headers, step.params, step.json, step.form, auth]

    def _what(self, step: Step) -> str:
        """``POST /path`` (the real URL for another base URL), ``run: python manage.py …`` (argv redacted when said)."""
        if step.command:
            return f"run: {commands.shown([str(self.show(arg)) for arg in step.command])}"
        if not step.method:
            return f"answered by {self.client.profile.class_path or 'its given values'}"
        return f"{step.method} {self.show(step.base_url) if step.base_url else ''}{self.show(step.path)}"

    def _creates(self, step: Step) -> str:
        """What the step would do when it may create something (--no-create skips it); "" for a GET."""
        if step.command:
            return f"the command {commands.shown([str(self.show(arg)) for arg in step.command])!r}"
        return self._what(step) if step.method not in ("GET", "") else ""

    def step(self, label: str, step: Step, *, authed: bool = True) -> None:
        """Run one step unless it creates something and --no-create was given; a step not sent prints no request line."""
        given = self._given(step)
        if given is not None:
            self.client.context.record(step.name, given)
            self.say(f"[{label}] given, not sent: {json.dumps(self.client.redactor.redact_data(given))}")
            return
        if self._creates(step) and not self.create:
            self.skipped.append(step.name)
            self.why[step.name] = f"{_origin(step.name)} was skipped (--no-create)"
            self.say(f"[{label}] skipped: {self._creates(step)} creates something (--no-create)")
            return
        blockers = self.blockers(*self._inputs(step, authed))
        if blockers:
            self.skipped.append(step.name)
            self.why[step.name] = f"{_origin(step.name)} could not run"
            self.say(f"[{label}] not run: {blockers}")
            return
        header = f"[{label}] {self._what(step)}"
        sent = self.client.exchange_seq
        try:
            data = self.client.run_step(step, authed=authed)
        except TargetUnreachable:
            raise
        except SmokeError as exc:
            if self.client.exchange_seq == sent:  # nothing was sent: the step could not be prepared
                self.skipped.append(step.name)
                self.why[step.name] = f"{_origin(step.name)} could not run"
                self.say(f"[{label}] not run: {exc}")
                return
            self.say(header)
            self.show_params(step)
            self.flush_exchanges()
            self.failed += 1
            self.why[step.name] = f"{_origin(step.name)} failed"
            self.say(f"    FAILED: {exc}")
            return
        self.say(header)
        self.show_params(step)
        self.flush_exchanges()
        self.say(f"    values later steps use as {step.name}:PATH: {json.dumps(self.client.redactor.redact_data(data))[:_SHOWN]}")

    def show_params(self, step: Step) -> None:
        """Print the step's query parameters as they will be sent (unresolved ones say why)."""
        if step.params:
            self.say(f"    query:    {json.dumps(self.client.redactor.redact_data(self.show(step.params)), default=str)}")

    def _given(self, step: Step) -> dict[str, Any] | None:
        if not step.given:
            return None
        try:
            values = self.client.fill(step.given, f"[{step.name}].given")
        except ConfigError:
            return None
        return values if all(v not in (None, "") for v in values.values()) else None

    def freeze(self) -> None:
        """From here on, use what the steps above provided: never run (or create) them again."""
        self.client.use_known_steps()

    def state(self) -> None:
        """Read the credit state with what the earlier steps provided (never creating anything here)."""
        profile = self.client.profile
        if profile.state is None:
            self.say("[state] none: the profile declares no observable effect")
            return
        self.say(f"[state] {profile.state.method} {self.show(profile.state.path)} → {self.show(profile.state_value)}")
        self.show_params(profile.state)
        needs = f" (needs {', '.join(self.skipped)}, not created)" if self.skipped else ""
        blockers = self.blockers(*self._inputs(profile.state, True), profile.state_value, profile.delta,
                                 profile.state_from, profile.state_to)
        if blockers:  # don't ask for a state that cannot be picked out of the answer
            self.say(f"    not run{needs}: {blockers}")
            return
        sent = self.client.exchange_seq
        try:
            value = self.client.read_state()
            expected = self.client.effect().describe(value)
        except TargetUnreachable:
            raise
        except SmokeError as exc:
            self.flush_exchanges()
            if self.client.exchange_seq == sent:
                self.say(f"    not run{needs}: {exc}")
                return
            if needs:  # e.g. no buyer was created (--no-create): an unreadable state is expected, not a failure
                self.say(f"    unreadable{needs}: {exc}")
                return
            self.failed += 1
            self.say(f"    FAILED: {exc}")
            return
        self.flush_exchanges()
        self.say(f"    value: {value!r} — expected after one payment: {expected}")

    def purchase(self) -> None:
        """Start a purchase as the checks would and show what the answer holds (unless --no-create)."""
        profile = self.client.profile
        step = profile.purchase
        if step is None or not profile.can("purchase"):
            self.say("[purchase] none: the profile declares no purchase ([purchase] / [supports] purchase), "
                     "so the checks that buy through the API skip")
            return
        if not self.create:
            self.why[step.name] = f"{_origin(step.name)} was skipped (--no-create)"
            self.say(f"[purchase] skipped: {self._creates(step) or self._what(step)} starts a payment (--no-create)")
            return
        blockers = self.blockers(*self._inputs(step, True))
        if blockers:
            self.why[step.name] = f"{_origin(step.name)} could not run"
            self.say(f"[purchase] not run: {blockers}")
            return
        header = f"[purchase] {self._what(step)}"
        sent = self.client.exchange_seq
        try:
            purchase = self.client.start_purchase()
        except TargetUnreachable:
            raise
        except SmokeError as exc:
            if self.client.exchange_seq == sent:
                self.why[step.name] = f"{_origin(step.name)} could not run"
                self.say(f"[purchase] not run: {exc}")
                return
            self.say(header)
            self.show_params(step)
            self.flush_exchanges()
            last = self.client.exchanges[-1] if self.client.exchanges else None
            if last is not None and (last.status >= 500 or (last.method == commands.RUN and last.status != 0)):
                # the target failed (or the command did), as in any other step: exit 1
                self.failed += 1
            else:  # a 4xx, not JSON, or without a field the profile names: the profile does not match the API
                self.mismatched += 1
            self.say(f"    FAILED: {self._purchase_mismatch(step) or exc}")
            return
        self.say(header)
        self.show_params(step)
        self.flush_exchanges()
        found = {"session_id": purchase.session_id, "checkout_url": purchase.checkout_url,
                 "payment_intent": purchase.payment_intent}
        for key, label in _PURCHASE_FIELDS.items():
            if key in step.extract:
                self.say(f"    {label} {found[key] or f'(none yet: {step.extract[key]} is empty in the answer)'}")

    def _purchase_mismatch(self, step: Step) -> str:
        """One sentence naming the field of a 2xx purchase answer that the profile points at but is not there."""
        last = self.client.exchanges[-1] if self.client.exchanges else None
        data = self.client.context.result(step.name)
        if last is None or not 200 <= last.status < 300 or not isinstance(data, (dict, list)):
            return ""
        for key, path in step.extract.items():
            try:
                json_path(data, path)
            except Missing:
                fields = ", ".join(list(data)[:12]) if isinstance(data, dict) else "a list"
                return (f"[purchase] {step.method} {self.show(step.path)} answered {last.status} without {path!r}, "
                        f"the path [purchase] {key} names: set {key} to where the answer holds {_WHAT[key]} "
                        f"(the answer has: {fields or 'no fields'}).")
        return ""

    def webhook(self) -> None:
        """Show the ``data.object`` fields the crediting event will carry for this buyer (never sent here)."""
        profile = self.client.profile
        self.say(f"[webhook] not sent: the checks deliver signed events to {profile.webhook_path or '(class)'}")
        if not profile.credit_object and not profile.class_path:
            self.say(f"    {profile.credit_event} carries only the checks' defaults ([webhook.object] is empty)")
            return
        try:
            fields = self.client.credit_fields()
        except TargetUnreachable:
            raise
        except SmokeError:
            fields = self.show(profile.credit_object)
        shown = json.dumps(self.client.redactor.redact_data(fields), default=str, ensure_ascii=False)
        self.say(f"    {profile.credit_event} will carry in data.object: {shown}")


def check_profile(name_or_path: str, base_url: str | None, *, create: bool = True, http_timeout: float = 15.0,
                  out: TextIO | None = None, redactor: Redactor | None = None) -> int:
    """Validate the profile; with a base URL run its steps, the purchase too unless ``create`` is off; 4 on a mismatch."""
    out = out or sys.stdout
    redactor = redactor or Redactor()
    profile = load_profile(name_or_path)
    if not base_url:
        # Validation only: nothing is sent, but variables are filled in (and an unset one is named).
        client = TargetClient(profile, "http://127.0.0.1", webhook_secret=None, http_timeout=http_timeout,
                              redactor=redactor)
        client.context.variables = {k: v for k, v in client.context.variables.items() if v is not None}
        client.close()
        checker = _Checker(client, out, create, later="which runs only with --base-url")
        for line in describe(profile, checker.show):
            checker.say(line)
        try:
            check_variables(profile)
        except ConfigError as exc:
            checker.say(f"  warning: {exc}")
        checker.say("no --base-url: validated only (give one to try the steps against the API)")
        return EXIT_OK
    check_variables(profile)
    client = open_target(profile, base_url, webhook_secret=None, http_timeout=http_timeout, redactor=redactor)
    checker = _Checker(client, out, create)
    for line in describe(profile, checker.show, state=False):  # the credit state is shown once the steps ran
        checker.say(line)
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
        checker.freeze()
        checker.state()
        checker.purchase()
        checker.webhook()
    finally:
        client.close()
    checker.say("a run will use:")
    checker.say(credit_state(profile, checker.show))
    if checker.mismatched:
        checker.say("the purchase did not work as the profile describes: fix [purchase] (or the API) and check again")
        return EXIT_MISMATCH
    verdict = "all steps answered as the profile expects" if not checker.failed else f"{checker.failed} step(s) failed"
    checker.say(verdict)
    return EXIT_OK if not checker.failed else EXIT_FAILED
