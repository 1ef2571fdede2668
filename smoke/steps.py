"""The step interpreter: runs a profile's buyer, setup and purchase steps and keeps each result in the run context."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from smoke.config import check_base_url
from smoke.errors import ConfigError, SmokeError
from smoke.http_client import Exchange, HttpClient
from smoke.placeholders import Missing, json_path
from smoke.profiles import Profile, Step
from smoke.redact import Redactor
from smoke.run_context import RunContext
from smoke.variables import fill

__all__ = ["StepRunner", "as_headers", "as_text", "register_secrets"]


class StepRunner:
    """Runs steps as the profile describes them (request, command, given values, or the class's ``answer``)."""

    def __init__(self, profile: Profile, context: RunContext, http: HttpClient, *,
                 answer: Callable[[Step], Any]) -> None:
        self.profile = profile
        self.context = context
        self.http = http
        self.answer = answer  # a step with no request or command (a class profile answers it in code)
        self._prepared = False
        # Set by freeze(): use the results already known and never run the buyer or setup steps again.
        self.frozen = False

    @property
    def redactor(self) -> Redactor:
        """The run's redactor (secrets the steps name join it)."""
        return self.context.redactor

    def fill(self, value: Any, where: str = "") -> Any:
        """``value`` with its placeholders filled from the run so far (a missing one is a ConfigError naming it)."""
        return fill(self.profile, self.context, value, where)

    def auth_headers(self) -> dict[str, str]:
        """The profile's auth headers, filled from the buyer step (a credential after ``Bearer `` joins the redactor)."""
        headers = as_headers(self.fill(self.profile.auth_headers, "[auth].headers"))
        for value in headers.values():
            if isinstance(value, str) and " " in value:
                self.redactor.add(value.split(" ", 1)[1])
        return headers

    def _keep(self, step: Step, data: Any) -> Any:
        """Register the secrets ``step`` names in ``data`` and keep ``data`` as its result."""
        register_secrets(self.redactor, data, step.secrets)
        self.context.record(step.name, data)
        return data

    def run(self, step: Step, *, authed: bool = True) -> Any:
        """Run a profile step (following its ``on_status`` fallbacks) and keep its JSON under its name.

        A step with ``given`` values that all resolve to something non-empty is not sent: those values are its result.
        """
        if step.given:
            given = self.fill(step.given, f"[{step.name}].given")
            if all(v not in (None, "") for v in given.values()):
                self.context.record(step.name, given)
                return given
        if step.command:
            return self._keep(step, self.run_command(step))
        if not step.method:  # given values that are empty, or (in a class profile) a step the class answers
            return self._keep(step, self.answer(step))
        return self._send(step, authed)

    def _send(self, step: Step, authed: bool) -> Any:
        """Send a request step and keep its JSON answer (a 4xx is a ConfigError, a 5xx a SmokeError)."""
        base = self.http.base_url
        if step.base_url:
            base = check_base_url(str(self.fill(step.base_url, f"[{step.name}].base_url")), f"[{step.name}].base_url")
        # The target's [auth] headers go to the target only: credentials must not leak across hosts, so a step with its
        # own base_url (an admin API) sends only the headers it names itself.
        send_auth = authed and not step.base_url
        headers = {**(self.auth_headers() if send_auth and self.profile.auth_headers else {}),
                   **as_headers(self.fill(step.headers, f"[{step.name}].headers"))}
        kwargs: dict[str, Any] = {"headers": headers, "params": self.fill(step.params, f"[{step.name}].params")}
        if step.json is not None:
            kwargs["json"] = self.fill(step.json, f"[{step.name}].json")
        if step.form is not None:
            kwargs["data"] = self.fill(step.form, f"[{step.name}].form")
        if step.timeout is not None:
            kwargs["timeout"] = step.timeout
        path = self.fill(step.path, f"[{step.name}].request")
        response = self.http.request(step.method, path, step=step.name, base_url=base if step.base_url else None, **kwargs)
        if response.status_code in step.on_status:
            return self.run(step.on_status[response.status_code], authed=authed)
        expected = step.expect_status or tuple(range(200, 300))
        if response.status_code not in expected:
            # A 4xx means the profile and the API disagree (or a receipt names another target); a 5xx is the target.
            error = SmokeError if response.status_code >= 500 else ConfigError
            raise error(
                f"[{step.name}] {step.method} {base}{path} answered {response.status_code} "
                f"({self.http.excerpt(response)}); expected {'/'.join(map(str, expected)) if step.expect_status else '2xx'}: "
                "check the profile's request, the base URL and the target's logs."
            )
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise ConfigError(f"[{step.name}] {step.method} {base}{path} did not answer JSON "
                              f"({self.http.excerpt(response)}); check the base URL and the path in the profile.") from None
        return self._keep(step, data)

    def run_command(self, step: Step) -> Any:
        """Run a command step's local program (argv, no shell, with its timeout), record it as evidence, return its JSON."""
        from smoke import commands

        argv = [as_text(v) for v in self.fill(list(step.command), f"[{step.name}].command")]
        env = as_headers(self.fill(step.env, f"[{step.name}].env"))
        cwd = None
        if step.cwd:
            cwd = self.profile.source.parent / str(self.fill(step.cwd, f"[{step.name}].cwd"))  # relative: to the profile
        ran = commands.run(step.name, argv, cwd=cwd, env=env, timeout=step.timeout or commands.DEFAULT_TIMEOUT,
                           redactor=self.redactor)
        self.http.keep(Exchange(
            step=step.name, method=commands.RUN, url=commands.shown(argv), status=ran.status,
            elapsed=ran.elapsed, raw_response=ran.evidence()[:4000], redactor=self.redactor, outcome=ran.outcome,
        ))
        return commands.result(step.name, ran, self.redactor)

    def unanswered(self, step: Step, owner: str) -> ConfigError:
        """The error for a step with no request or command that ``owner`` (the client's class) does not answer."""
        if step.given:
            empty = ", ".join(k for k, v in self.fill(step.given, f"[{step.name}].given").items() if v in (None, ""))
            return ConfigError(f"{self.profile.source}: [{step.name}] has only given values and {empty} is empty: set it "
                               "(e.g. the environment variable it names), or give the step a request or command.")
        return ConfigError(f"{self.profile.source}: [{step.name}] has no request or command and {owner} does "
                           "not answer it: override answer_step in the class, or give the step a request or command.")

    def prepare(self, run: Callable[..., Any] | None = None) -> Any:
        """Create (or sign in) the buyer once, run the setup steps once, and the per-check ones when missing.

        ``run`` runs one step (default: ``self.run``). Once frozen, nothing runs: the buyer is what is already known."""
        run = run or self.run
        if self.frozen:
            return self.context.result("buyer")
        if not self._prepared:
            once = [s for s in self.profile.setup if not s.per_check]
            if self.profile.buyer is not None and not self.context.has("buyer"):
                run(self.profile.buyer, authed=False)
                for step in once:
                    run(step)
            elif self.profile.buyer is None:
                for step in once:
                    if not self.context.has(step.name):
                        run(step)
            self._prepared = True
        for step in self.profile.setup:
            if step.per_check and not self.context.has(step.name):
                run(step)
        return self.context.result("buyer")

    def freeze(self) -> None:
        """From here on, use what the steps run so far provided: never run (or create) the buyer or setup again."""
        self.frozen = True

    def begin_check(self) -> bool:
        """Forget the results of ``per_check`` setup steps (a new subject for the next check); True when there are some."""
        per_check = [step.name for step in self.profile.setup if step.per_check]
        for name in per_check:
            self.context.forget(name)
        return bool(per_check)


def as_headers(values: dict[str, Any]) -> dict[str, str]:
    """Header values as text: a placeholder that resolved to a number (``${var:amount}``) is sent as its digits."""
    return {str(k): as_text(v) for k, v in values.items()}


def as_text(value: Any) -> str:
    """A resolved value as text (a header, an environment variable, an argument): numbers as digits, tables as JSON."""
    return json.dumps(value) if isinstance(value, (bool, dict, list)) or value is None else str(value)


def register_secrets(redactor: Redactor, data: Any, paths: tuple[str, ...] | list[str]) -> None:
    """Register the values a step's ``secrets`` name: each path's value (every string inside it), and a bare key's
    value wherever that key appears, at any depth."""
    for secret_path in paths:
        try:
            redactor.add_all(json_path(data, secret_path))
        except Missing:
            pass
        if "." not in secret_path and "[" not in secret_path:
            redactor.add_all(list(_values_named(data, secret_path)))


def _values_named(data: Any, key: str) -> Iterator[Any]:
    if isinstance(data, dict):
        for name, value in data.items():
            if name == key:
                yield value
            yield from _values_named(value, key)
    elif isinstance(data, list):
        for value in data:
            yield from _values_named(value, key)
