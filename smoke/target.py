"""The client for a target: runs the profile's steps over HTTP and delivers events to its webhook."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.config import check_base_url
from smoke.effects import Effect
from smoke.errors import ConfigError, SmokeError, TargetUnreachable
from smoke.placeholders import Missing, json_path, keys_of, resolve
from smoke.profiles import Profile, Step, check_variables
from smoke.redact import REDACTOR, Redactor
from smoke.waiting import RateGate, RateLimited

__all__ = ["Delivery", "Exchange", "Purchase", "TargetClient", "open_target", "register_secrets"]


@dataclass
class Exchange:
    """One request and its answer: the evidence attached to reports, redacted whenever it is read.

    The bodies are kept raw and redacted on access, so a secret learnt from this very answer (a step's
    ``secrets``, registered after it arrives) is masked too.
    """

    step: str
    method: str
    url: str
    status: int
    elapsed: float
    raw_request: str = field(default="", repr=False)
    raw_response: str = field(default="", repr=False)
    seq: int = 0
    redactor: Redactor = field(default=REDACTOR, repr=False, compare=False)
    # For a command step (method "RUN", url its argv): "exit 0", "timed out after 60 s"…, shown instead of the status.
    outcome: str = ""

    @property
    def request_body(self) -> str:
        """The request body, redacted."""
        return self.redactor.redact(self.raw_request)

    @property
    def response_body(self) -> str:
        """The response body (its first 4000 characters), redacted."""
        return self.redactor.redact(self.raw_response)

    def as_dict(self) -> dict[str, Any]:
        """The exchange as reports show it (redacted)."""
        return {"step": self.step, "method": self.method, "url": self.redactor.redact(self.url), "status": self.status,
                "elapsed": self.elapsed, "request_body": self.request_body, "response_body": self.response_body,
                **({"outcome": self.outcome} if self.outcome else {})}

    def summary(self) -> str:
        """``POST /api/x → 200 (12 ms)``; a command: ``RUN python manage.py … → exit 0 (80 ms)``."""
        return f"{self.method} {self.redactor.redact(self.url)} → {self.outcome or self.status} ({self.elapsed * 1000:.0f} ms)"


@dataclass
class Delivery:
    """What the webhook answered to one delivery."""

    status: int
    body: str
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A 2xx answer: Stripe treats the event as delivered."""
        return 200 <= self.status < 300


@dataclass
class Purchase:
    """A Checkout Session (or PaymentIntent) the target started for the buyer."""

    session_id: str | None
    checkout_url: str | None
    payment_intent: str | None
    raw: Any


class TargetClient:
    """Talks to one target as its profile describes. Subclass it for the profile's ``class`` escape hatch."""

    def __init__(
        self,
        profile: Profile,
        base_url: str,
        *,
        webhook_secret: str | None,
        run_id: str | None = None,
        http_timeout: float = 15.0,
        rate_limit_per_minute: int | None = None,
        redactor: Redactor = REDACTOR,
        patience: float = 10.0,
    ) -> None:
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.webhook_secret = webhook_secret
        self.run_id = run_id or uuid.uuid4().hex[:10]
        self.redactor = redactor
        # The profile's limits per route (the webhook unpaced unless a pattern names it); --rate-limit caps every route.
        self.gate = RateGate(profile.rate_limit_per_minute, routes=profile.rate_limits, unpaced={profile.webhook_path},
                             ceiling=rate_limit_per_minute, horizon=patience)
        # How long one request may wait out the target's rate limit (a 429's Retry-After) before giving up.
        self.patience = patience
        # The last settled credit state (value, when, exchange_seq): the next check's baseline while nothing was sent.
        self._settled: tuple[Any, float, int] | None = None
        # The slowest credit seen so far (seconds from the webhook's answer to the state showing it).
        self.credit_latency = 0.0
        self.last_sent_at = 0.0
        self.last_gate_wait = 0.0
        self.http_timeout = http_timeout
        self.http = httpx.Client(base_url=self.base_url, timeout=http_timeout, follow_redirects=False)
        # Steps with their own base_url (an admin API): one client each, so no cookie the target set travels there.
        self.other_http: dict[str, httpx.Client] = {}
        self.exchanges: list[Exchange] = []
        self.exchange_seq = 0
        self.results: dict[str, Any] = {"run": {"id": self.run_id}}
        self.results["var"] = self._resolve_vars()
        self._prepared = False
        redactor.add(webhook_secret)

    # -- placeholders -------------------------------------------------------------
    def _resolve_vars(self) -> dict[str, Any]:
        import os

        values: dict[str, Any] = {}
        for name, var in self.profile.vars.items():
            raw = os.environ.get(var.env, "") if var.env else ""
            if raw == "":
                value = resolve(var.default, {"run": self.results["run"], "var": values})
            elif isinstance(var.default, int) and not isinstance(var.default, bool):
                if not raw.strip().isdigit() or int(raw) <= 0:
                    raise ConfigError(f"{var.env} must be a positive whole number (minor units, e.g. 500 for $5.00), not {raw!r}.")
                value = int(raw)
            else:
                value = raw
            if var.secret:
                self.redactor.add(value)
            values[name] = value
        return values

    def fill(self, value: Any, where: str = "") -> Any:
        """Resolve placeholders against the results so far; a missing one is a ConfigError naming it."""
        unset = sorted(n for n in keys_of(value, "var") if n in self.profile.vars and self.results["var"].get(n) is None)
        if unset:  # never send None as a header or body value: name the variable and its env var instead
            check_variables(self.profile)
            env = self.profile.vars[unset[0]].env
            fix = f"set {env} (or give the variable a default in the profile)" if env else "give it a default in the profile"
            raise ConfigError(f"The profile variable {unset[0]!r} has no value: {fix}.")
        try:
            return resolve(value, self.results)
        except Missing as exc:
            raise ConfigError(f"{self.profile.source}: {where or 'a value'} needs {exc}; run the step that provides it first "
                              "or fix the placeholder.") from None

    # -- HTTP -----------------------------------------------------------------------
    def request(self, method: str, path: str, *, step: str = "", base_url: str | None = None,
                patience: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request (paced per route, with the client's timeout) and record the redacted exchange.

        ``base_url`` sends it to another API (a step's own ``base_url``) instead of the target. A 429 is waited out
        (its Retry-After, or the reset its RateLimit headers give) and the request sent again, for up to ``patience``
        seconds (default: the client's); past that, RateLimited. With ``patience=0`` a 429 is returned as it came."""
        route = path if not base_url else f"{base_url.rstrip('/')}{path}"
        wait_until = time.monotonic() + (self.patience if patience is None else patience)
        while True:
            response = self._send_once(method, path, step=step, base_url=base_url, route=route,
                                       patience=max(0.0, wait_until - time.monotonic()), **kwargs)
            if response.status_code != 429 or patience == 0:
                return response
            held = self.gate.held_for(route, self.run_id)
            if time.monotonic() + held > wait_until:
                raise RateLimited(held, f"send {method} {path}")

    def _send_once(self, method: str, path: str, *, step: str, base_url: str | None, route: str, patience: float,
                   **kwargs: Any) -> httpx.Response:
        """One attempt: wait for the route's slot (RateLimited past ``patience``), send, learn from the answer."""
        base = base_url.rstrip("/") if base_url else self.base_url
        http = self.http
        if base_url:
            if base not in self.other_http:
                self.other_http[base] = httpx.Client(timeout=self.http_timeout, follow_redirects=False)
            http = self.other_http[base]
        began = time.monotonic()
        ticket = self.gate.acquire(route, patience, who=self.run_id)
        started = self.last_sent_at = time.monotonic()
        self.last_gate_wait = started - began
        try:
            response = http.request(method, path if not base_url else f"{base}{path}", **kwargs)
        except httpx.TimeoutException:
            knob = "the step's timeout" if "timeout" in kwargs else "--http-timeout"
            raise TargetUnreachable(
                f"{method} {base}{path} timed out; check that the {'target' if not base_url else 'API'} is up or raise {knob}."
            ) from None
        except httpx.TransportError as exc:
            raise TargetUnreachable(
                f"The {'target' if not base_url else f'API of [{step}]'} at {base} did not answer ({type(exc).__name__}); "
                f"check {'--base-url' if not base_url else 'its base_url'} and that the service is running."
            ) from None
        except (UnicodeEncodeError, httpx.InvalidURL) as exc:
            raise ConfigError(
                f"[{step or 'request'}] {method} {path} can't be sent ({type(exc).__name__}: a header or the URL holds "
                "characters HTTP can't carry); check the values the profile (or the receipt) puts there."
            ) from None
        elapsed = time.monotonic() - started
        self.gate.learn(route, ticket, response.status_code, response.headers, who=self.run_id)
        body = kwargs.get("content") or kwargs.get("json") or kwargs.get("data") or ""
        self.exchange_seq += 1
        self.exchanges.append(Exchange(
            seq=self.exchange_seq, step=step, method=method, url=f"{base}{path}", status=response.status_code, elapsed=elapsed,
            raw_request=body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body) if body else "",
            raw_response=response.text[:4000], redactor=self.redactor,
        ))
        del self.exchanges[:-200]
        return response

    def auth_headers(self) -> dict[str, str]:
        """The profile's auth headers, filled from the buyer step."""
        headers = _as_headers(self.fill(self.profile.auth_headers, "[auth].headers"))
        for value in headers.values():
            if isinstance(value, str) and " " in value:
                self.redactor.add(value.split(" ", 1)[1])
        return headers

    def run_step(self, step: Step, *, authed: bool = True) -> Any:
        """Run a profile step (following its ``on_status`` fallbacks) and store its JSON under its name.

        A step with ``given`` values that all resolve to something non-empty is not sent: those values are its result.
        """
        if step.given:
            given = self.fill(step.given, f"[{step.name}].given")
            if all(v not in (None, "") for v in given.values()):
                self.results[step.name] = given
                return given
        if step.command:
            data = self.run_command(step)
            register_secrets(self.redactor, data, step.secrets)
            self.results[step.name] = data
            return data
        if not step.method:  # given values that are empty, or (in a class profile) a step the class answers
            data = self.answer_step(step)
            register_secrets(self.redactor, data, step.secrets)
            self.results[step.name] = data
            return data
        base = self.base_url
        if step.base_url:
            base = check_base_url(str(self.fill(step.base_url, f"[{step.name}].base_url")), f"[{step.name}].base_url")
        # The target's [auth] headers go to the target only: credentials must not leak across hosts, so a step with its
        # own base_url (an admin API) sends only the headers it names itself.
        send_auth = authed and not step.base_url
        headers = {**(self.auth_headers() if send_auth and self.profile.auth_headers else {}),
                   **_as_headers(self.fill(step.headers, f"[{step.name}].headers"))}
        kwargs: dict[str, Any] = {"headers": headers, "params": self.fill(step.params, f"[{step.name}].params")}
        if step.json is not None:
            kwargs["json"] = self.fill(step.json, f"[{step.name}].json")
        if step.form is not None:
            kwargs["data"] = self.fill(step.form, f"[{step.name}].form")
        if step.timeout is not None:
            kwargs["timeout"] = step.timeout
        path = self.fill(step.path, f"[{step.name}].request")
        response = self.request(step.method, path, step=step.name, base_url=base if step.base_url else None, **kwargs)
        if response.status_code in step.on_status:
            return self.run_step(step.on_status[response.status_code], authed=authed)
        expected = step.expect_status or tuple(range(200, 300))
        if response.status_code not in expected:
            # A 4xx means the profile and the API disagree (or a receipt names another target); a 5xx is the target.
            error = SmokeError if response.status_code >= 500 else ConfigError
            raise error(
                f"[{step.name}] {step.method} {base}{path} answered {response.status_code} "
                f"({self._excerpt(response)}); expected {'/'.join(map(str, expected)) if step.expect_status else '2xx'}: "
                "check the profile's request, the base URL and the target's logs."
            )
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise ConfigError(f"[{step.name}] {step.method} {base}{path} did not answer JSON "
                              f"({self._excerpt(response)}); check the base URL and the path in the profile.") from None
        register_secrets(self.redactor, data, step.secrets)
        self.results[step.name] = data
        return data

    def run_command(self, step: Step) -> Any:
        """Run a command step's local program (argv, no shell, with its timeout), record it as evidence, return its JSON."""
        from smoke import commands

        argv = [_as_text(v) for v in self.fill(list(step.command), f"[{step.name}].command")]
        env = _as_headers(self.fill(step.env, f"[{step.name}].env"))
        cwd = None
        if step.cwd:
            cwd = self.profile.source.parent / str(self.fill(step.cwd, f"[{step.name}].cwd"))  # relative: to the profile
        ran = commands.run(step.name, argv, cwd=cwd, env=env, timeout=step.timeout or commands.DEFAULT_TIMEOUT,
                           redactor=self.redactor)
        self.exchange_seq += 1
        self.exchanges.append(Exchange(
            seq=self.exchange_seq, step=step.name, method=commands.RUN, url=commands.shown(argv), status=ran.status,
            elapsed=ran.elapsed, raw_response=ran.evidence()[:4000], redactor=self.redactor, outcome=ran.outcome,
        ))
        del self.exchanges[:-200]
        return commands.result(step.name, ran, self.redactor)

    def answer_step(self, step: Step) -> Any:
        """The result of a step that has no request or command: a class profile overrides this to answer it in code."""
        if step.given:
            empty = ", ".join(k for k, v in self.fill(step.given, f"[{step.name}].given").items() if v in (None, ""))
            raise ConfigError(f"{self.profile.source}: [{step.name}] has only given values and {empty} is empty: set it "
                              "(e.g. the environment variable it names), or give the step a request or command.")
        raise ConfigError(f"{self.profile.source}: [{step.name}] has no request or command and {type(self).__name__} does "
                          "not answer it: override answer_step in the class, or give the step a request or command.")

    def _excerpt(self, response: httpx.Response) -> str:
        """A short, redacted glimpse of an answer for an error message (an HTML page is named, not quoted)."""
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if "html" in kind or response.text.lstrip()[:1] == "<":
            return "an HTML page"
        text = " ".join(response.text.split())[:160]
        return repr(self.redactor.redact(text)) if text else "an empty body"

    # -- the flow ---------------------------------------------------------------------
    def health(self) -> httpx.Response:
        """Ask the target's health route (or the base URL) whether it is up."""
        path = self.profile.health.path if self.profile.health else "/"
        method = self.profile.health.method if self.profile.health else "GET"
        return self.request(method, path, step="health")

    def ensure_buyer(self) -> Any:
        """Create (or sign in) the buyer once, run the setup steps once, and the per-check ones when missing."""
        if not self._prepared:
            once = [s for s in self.profile.setup if not s.per_check]
            if self.profile.buyer is not None and "buyer" not in self.results:
                self.run_step(self.profile.buyer, authed=False)
                for step in once:
                    self.run_step(step)
            elif self.profile.buyer is None:
                for step in once:
                    if step.name not in self.results:
                        self.run_step(step)
            self._prepared = True
        for step in self.profile.setup:
            if step.per_check and step.name not in self.results:
                self.run_step(step)
        return self.results.get("buyer")

    def begin_check(self) -> None:
        """Forget the results of ``per_check`` setup steps so the next check runs them afresh (e.g. a new invoice)."""
        for step in self.profile.setup:
            if step.per_check:
                self.results.pop(step.name, None)
                self._settled = None  # a new subject: its state is not the last one's

    def note_settled(self, value: Any) -> None:
        """Remember ``value`` as the credit state that just stayed put for a settle window (the next baseline)."""
        self._settled = (value, time.monotonic(), self.exchange_seq)

    def settled_state(self, max_age: float) -> tuple[bool, Any]:
        """``(True, value)`` when the last settled state is at most ``max_age`` old and nothing was sent since."""
        if self._settled is None:
            return False, None
        value, when, seq = self._settled
        if seq != self.exchange_seq or time.monotonic() - when > max_age:
            return False, None
        return True, value

    def note_credit_latency(self, seconds: float) -> None:
        """Remember how long a credit took to show (the settle windows grow to cover the slowest one)."""
        self.credit_latency = max(self.credit_latency, seconds)

    def read_state(self) -> Any:
        """Read the credit state once; raises RateLimited on a 429."""
        step = self.profile.state
        if step is None:
            raise ConfigError(f"{self.profile.source}: this target has no [state]; add one to read the credit state.")
        self.ensure_buyer()
        headers = {**self.auth_headers(), **_as_headers(self.fill(step.headers, "[state].headers"))}
        path = self.fill(step.path, "[state].request")
        kwargs: dict[str, Any] = {"headers": headers, "params": self.fill(step.params, "[state].params")}
        if step.json is not None:
            kwargs["json"] = self.fill(step.json, "[state].json")
        # A 429 (or a spent budget) comes back at once: the wait around this read decides whether to wait it out.
        response = self.request(step.method, path, step="state", patience=0.0, **kwargs)
        if response.status_code == 429:
            raise RateLimited(self.gate.held_for(path, self.run_id))
        if response.status_code >= 400:
            error = SmokeError if response.status_code >= 500 else ConfigError
            raise error(
                f"Reading the credit state ({step.method} {self.base_url}{path}) answered {response.status_code} "
                f"({self._excerpt(response)}); check the base URL, the buyer's auth and [state].request in the profile."
            )
        try:
            return json_path(response.json(), self.fill(self.profile.state_value, "[state].value"))
        except (ValueError, Missing) as exc:
            raise ConfigError(
                f"The credit state is not where the profile says ({self.profile.state_value!r}: {exc}); fix [state].value."
            ) from None

    def ledger_entries_mentioning(self, ids: set[str]) -> list[Any] | None:
        """Entries of the buyer's ledger (``[ledger]``) that mention any of ``ids``; None when it can't be read."""
        step = self.profile.ledger
        if step is None:
            return None
        self.ensure_buyer()
        headers = {**self.auth_headers(), **_as_headers(self.fill(step.headers, "[ledger].headers"))}
        try:
            response = self.request(step.method, self.fill(step.path, "[ledger].request"), step="ledger",
                                    headers=headers, params=self.fill(step.params, "[ledger].params"))
            entries = json_path(response.json(), self.profile.ledger_entries) if response.status_code < 400 else None
        except (SmokeError, ValueError, Missing):
            return None
        if not isinstance(entries, list):
            return None
        return [entry for entry in entries if any(i in json.dumps(entry, default=str) for i in ids if i)]

    def effect(self) -> Effect:
        """The expected effect of one crediting payment."""
        if self.profile.numeric:
            delta = self.fill(self.profile.delta, "[effect].delta")
            try:
                return Effect(delta=float(delta))
            except (TypeError, ValueError):
                raise ConfigError(f"{self.profile.source}: [effect].delta resolved to {delta!r}, not a number; fix it.") from None
        return Effect(to=self.fill(self.profile.state_to, "[effect].to"), from_=self.fill(self.profile.state_from, "[effect].from"),
                      may_become=self.profile.state_may_become)

    def credit_fields(self) -> dict[str, Any]:
        """The fields the crediting event's ``data.object`` must carry for this buyer."""
        self.ensure_buyer()
        return self.fill(self.profile.credit_object, "[webhook].object")

    def start_purchase(self) -> Purchase:
        """Ask the target to start a purchase (a Checkout Session) for the buyer."""
        step = self.profile.purchase
        if step is None:
            raise ConfigError(f"{self.profile.source}: no [purchase] step; add one to create Checkout Sessions.")
        self.ensure_buyer()
        data = self.run_step(step)

        def pick(key: str) -> str | None:
            path = step.extract.get(key)
            try:
                value = json_path(data, path) if path else None
            except Missing:
                raise ConfigError(f"The purchase answer has no {path!r}; fix [purchase].{key} in the profile.") from None
            return None if value in (None, "") else str(value)  # null: e.g. no PaymentIntent until the page is paid

        return Purchase(pick("session_id"), pick("checkout_url"), pick("payment_intent"), data)

    def deliver(self, body: bytes, headers: dict[str, str]) -> Delivery:
        """POST one event body to the webhook route, exactly as given."""
        response = self.request("POST", self.profile.webhook_path, step="webhook", content=body, headers=headers)
        return Delivery(response.status_code, self.redactor.redact(response.text[:500]),
                        response.elapsed.total_seconds(), dict(response.headers))

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self.http.close()
        for http in self.other_http.values():
            http.close()


def _as_headers(values: dict[str, Any]) -> dict[str, str]:
    """Header values as text: a placeholder that resolved to a number (``${var:amount}``) is sent as its digits."""
    return {str(k): _as_text(v) for k, v in values.items()}


def _as_text(value: Any) -> str:
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


def open_target(profile: Profile, base_url: str, **kwargs: Any) -> TargetClient:
    """A client for ``profile``: the declarative one, or the class the profile names."""
    cls: type[TargetClient] = TargetClient
    if profile.class_path:
        module_name, _, attr = profile.class_path.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{profile.source}: class {profile.class_path!r} cannot be imported ({exc}); "
                              "check the module is on PYTHONPATH.") from None
        if not (isinstance(cls, type) and issubclass(cls, TargetClient)):
            raise ConfigError(f"{profile.source}: class {profile.class_path!r} must subclass smoke.target.TargetClient.")
    return cls(profile, base_url, **kwargs)
