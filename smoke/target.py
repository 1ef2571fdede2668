"""The client for a target: the profile's steps, its credit state and its webhook, over paced HTTP with evidence.

A thin composition: ``run_context.py`` holds what the run knows, ``variables.py`` fills placeholders, ``steps.py``
runs the steps and ``http_client.py`` sends the requests; a profile's ``class`` subclasses ``TargetClient``.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from smoke.effects import Effect
from smoke.errors import ConfigError, SmokeError
from smoke.http_client import Exchange, HttpClient
from smoke.placeholders import Missing, json_path
from smoke.profiles import Profile, Step
from smoke.redact import Redactor
from smoke.run_context import RunContext
from smoke.steps import StepRunner, as_headers, register_secrets
from smoke.variables import resolve_variables
from smoke.waiting import RateGate, RateLimited

__all__ = ["Delivery", "Exchange", "Purchase", "TargetClient", "open_target", "register_secrets"]


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
        redactor: Redactor | None = None,
        patience: float = 10.0,
        context: RunContext | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.webhook_secret = webhook_secret
        # What the run knows (its id, redactor, variables, step results); a fresh one unless the caller hands one over.
        self.context = context or RunContext(redactor=redactor or Redactor())
        if run_id:
            self.context.run_id = run_id
        self.redactor = self.context.redactor
        self.http_timeout = http_timeout
        # The profile's limits per route (the webhook unpaced unless a pattern names it); --rate-limit caps every route.
        gate = RateGate(profile.rate_limit_per_minute, routes=profile.rate_limits, unpaced={profile.webhook_path},
                        ceiling=rate_limit_per_minute, horizon=patience)
        self.transport = HttpClient(self.base_url, gate, redactor=self.redactor, who=self.run_id,
                                    timeout=http_timeout, patience=patience)
        # The last settled credit state (value, when, exchange_seq): the next check's baseline while nothing was sent.
        self._settled: tuple[Any, float, int] | None = None
        # The slowest credit seen so far (seconds from the webhook's answer to the state showing it).
        self.credit_latency = 0.0
        self.context.variables = resolve_variables(profile, self.context)
        self.steps = StepRunner(profile, self.context, self.transport, answer=self.answer_step)
        self.redactor.add(webhook_secret)

    # -- what the run knows ---------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """This run's id (new every run: the created buyer's address carries it)."""
        return self.context.run_id

    @property
    def results(self) -> dict[str, Any]:
        """Every placeholder source (``run``, ``var``, each step's result), read-only: a class profile reads it."""
        return self.context.sources()

    def fill(self, value: Any, where: str = "") -> Any:
        """Resolve placeholders against the results so far; a missing one is a ConfigError naming it."""
        return self.steps.fill(value, where)

    # -- HTTP (http_client.py) --------------------------------------------------------------
    @property
    def gate(self) -> RateGate:
        """The rate gate that paces this client's requests (shareable between clients of one target)."""
        return self.transport.gate

    @gate.setter
    def gate(self, gate: RateGate) -> None:
        self.transport.gate = gate

    @property
    def patience(self) -> float:
        """How long one request may wait out the target's rate limit before giving up."""
        return self.transport.patience

    @property
    def exchanges(self) -> list[Exchange]:
        """The latest exchanges, oldest first (redacted when read)."""
        return self.transport.exchanges

    @property
    def exchange_seq(self) -> int:
        """The sequence number of the latest exchange."""
        return self.transport.exchange_seq

    @exchange_seq.setter
    def exchange_seq(self, value: int) -> None:
        self.transport.exchange_seq = value

    @property
    def last_sent_at(self) -> float:
        """When (monotonic) the latest request left."""
        return self.transport.last_sent_at

    @property
    def last_gate_wait(self) -> float:
        """How long the latest request waited at the rate gate."""
        return self.transport.last_gate_wait

    @property
    def http(self) -> httpx.Client:
        """The connection pool to the target."""
        return self.transport.http

    def request(self, method: str, path: str, *, step: str = "", base_url: str | None = None,
                patience: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request (paced per route, with the client's timeout) and record the redacted exchange.

        ``base_url`` sends it to another API (a step's own ``base_url``) instead of the target. A 429 is waited out
        (its Retry-After, or the reset its RateLimit headers give) and the request sent again, for up to ``patience``
        seconds (default: the client's); past that, RateLimited. With ``patience=0`` a 429 is returned as it came."""
        return self.transport.request(method, path, step=step, base_url=base_url, patience=patience, **kwargs)

    # -- steps (steps.py) ---------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """The profile's auth headers, filled from the buyer step."""
        return self.steps.auth_headers()

    def run_step(self, step: Step, *, authed: bool = True) -> Any:
        """Run a profile step (following its ``on_status`` fallbacks) and store its JSON under its name.

        A step with ``given`` values that all resolve to something non-empty is not sent: those values are its result.
        """
        return self.steps.run(step, authed=authed)

    def run_command(self, step: Step) -> Any:
        """Run a command step's local program (argv, no shell, with its timeout), record it as evidence, return its JSON."""
        return self.steps.run_command(step)

    def answer_step(self, step: Step) -> Any:
        """The result of a step that has no request or command: a class profile overrides this to answer it in code."""
        raise self.steps.unanswered(step, type(self).__name__)

    # -- the flow ---------------------------------------------------------------------
    def health(self) -> httpx.Response:
        """Ask the target's health route (or the base URL) whether it is up."""
        path = self.profile.health.path if self.profile.health else "/"
        method = self.profile.health.method if self.profile.health else "GET"
        return self.request(method, path, step="health")

    def ensure_buyer(self) -> Any:
        """Create (or sign in) the buyer once, run the setup steps once, and the per-check ones when missing.

        After ``use_known_steps()`` nothing runs: the buyer is what is already known."""
        return self.steps.prepare(self.run_step)

    def _ready(self) -> None:
        """Make sure the buyer and setup steps ran, unless the client uses only what is already known."""
        if not self.steps.frozen:
            self.ensure_buyer()

    def use_known_steps(self) -> None:
        """From here on, use the results the steps run so far provided: never run (or create) buyer or setup again."""
        self.steps.freeze()

    def begin_check(self) -> None:
        """Forget the results of ``per_check`` setup steps so the next check runs them afresh (e.g. a new invoice)."""
        if self.steps.begin_check():
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
        self._ready()
        headers = {**self.auth_headers(), **as_headers(self.fill(step.headers, "[state].headers"))}
        path = self.fill(step.path, "[state].request")
        kwargs: dict[str, Any] = {"headers": headers, "params": self.fill(step.params, "[state].params")}
        if step.json is not None:
            kwargs["json"] = self.fill(step.json, "[state].json")
        # A 429 (or a spent budget) comes back at once: the wait around this read decides whether to wait it out.
        response = self.request(step.method, path, step="state", patience=0.0, **kwargs)
        if response.status_code == 429:
            raise RateLimited(self.gate.held_for(path, self.transport.who))
        if response.status_code >= 400:
            error = SmokeError if response.status_code >= 500 else ConfigError
            raise error(
                f"Reading the credit state ({step.method} {self.base_url}{path}) answered {response.status_code} "
                f"({self.transport.excerpt(response)}); check the base URL, the buyer's auth and [state].request in the profile."
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
        self._ready()
        headers = {**self.auth_headers(), **as_headers(self.fill(step.headers, "[ledger].headers"))}
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
        self._ready()
        return self.fill(self.profile.credit_object, "[webhook].object")

    def start_purchase(self) -> Purchase:
        """Ask the target to start a purchase (a Checkout Session) for the buyer."""
        step = self.profile.purchase
        if step is None:
            raise ConfigError(f"{self.profile.source}: no [purchase] step; add one to create Checkout Sessions.")
        self._ready()
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
        self.transport.close()


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
