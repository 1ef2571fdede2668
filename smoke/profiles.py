"""Load and validate target profiles: the declarative description of a billing API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smoke._data import fixtures_dir
from smoke.errors import ConfigError
from smoke.events import DEFAULT_API_VERSION
from smoke.files import read_toml

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

@dataclass(frozen=True)
class Step:
    """One step a profile asks for, with placeholders still unresolved: an HTTP request (to --base-url, or to the step's
    own ``base_url``), a local ``command``, or only ``given`` values (or, in a class profile, whatever the class answers).
    ``method`` and ``path`` are empty when the step sends no request."""

    name: str
    method: str
    path: str
    json: Any = None
    form: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    expect_status: tuple[int, ...] = ()
    secrets: tuple[str, ...] = ()
    on_status: dict[int, Step] = field(default_factory=dict)
    extract: dict[str, str] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)
    per_check: bool = False
    # A local program to run instead of a request (argv, never a shell string); its stdout (JSON) is the result.
    command: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    # Another API (an admin API) to send the request to, without the target's [auth] headers.
    base_url: str | None = None

    @property
    def action(self) -> str:
        """What the step does, as written: ``POST /path``, ``POST ${env:ADMIN_URL}/path``, ``the command …`` or ``given values``."""
        if self.command:
            import shlex

            return f"the command {shlex.join(self.command)}"
        if self.method:
            return f"{self.method} {self.base_url or ''}{self.path}"
        return "given values" if self.given else "the profile's class"


@dataclass(frozen=True)
class Var:
    """A profile variable: from an environment variable, else a default."""

    env: str | None
    default: Any
    secret: bool = False


@dataclass(frozen=True)
class Profile:
    """A target described declaratively; see README "Writing a profile"."""

    name: str
    source: Path
    description: str = ""
    class_path: str | None = None
    health: Step | None = None
    production: bool = False
    embedded: str | None = None
    rate_limit_per_minute: int | None = None
    # [target.rate_limits]: path pattern → requests a minute (the webhook is unpaced unless a pattern names it).
    rate_limits: dict[str, int] = field(default_factory=dict)
    vars: dict[str, Var] = field(default_factory=dict)
    buyer: Step | None = None
    setup: tuple[Step, ...] = ()
    auth_headers: dict[str, str] = field(default_factory=dict)
    state: Step | None = None
    state_value: str = ""
    state_where: dict[str, Any] = field(default_factory=dict)
    delta: Any = None
    state_from: Any = None
    state_to: Any = None
    # The states a non-crediting event may lead to (None: any state but ``to``).
    state_may_become: tuple[Any, ...] | None = None
    purchase: Step | None = None
    webhook_path: str = ""
    credit_event: str = "checkout.session.completed"
    credit_object: dict[str, Any] = field(default_factory=dict)
    api_version: str = DEFAULT_API_VERSION
    content_type: str = "application/json; charset=utf-8"
    webhook_expect_status: tuple[int, ...] = ()
    webhook_reject_status: tuple[int, ...] = ()
    supports: dict[str, bool] = field(default_factory=dict)
    ledger: Step | None = None
    ledger_entries: str = ""
    # [drills.transient]: a step that makes processing fail for a moment, and one that mends it.
    transient_break: Step | None = None
    transient_mend: Step | None = None
    # [drills.stripe_outage]: the webhook asks Stripe while handling an event; the route an outage fails, and how.
    stripe_outage_route: str | None = None
    stripe_outage_kind: str = "api_error"

    @property
    def numeric(self) -> bool:
        """True when the effect is a delta on a number, False for a ``from → to`` state change."""
        return self.delta is not None

    def can(self, capability: str) -> bool:
        """Whether the profile says the target supports ``capability``."""
        # A class (the escape hatch) may read the state in code, without a [state] table.
        has_state = (self.state is not None or self.class_path is not None) and self.supports.get("state", True)
        if capability == "state":
            return has_state
        defaults = {"simulated_credit": has_state, "purchase": self.purchase is not None,
                    "refunds": False, "ledger": self.ledger is not None, "async_payments": True}
        return bool(self.supports.get(capability, defaults.get(capability, False)))


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the harness."""
    return sorted(p.stem for p in (fixtures_dir() / "profiles").glob("*.toml"))


def find_profile(name_or_path: str) -> Path:
    """Resolve ``--target``: a path to a ``.toml`` file, or the name of a shipped profile."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" or candidate.exists():
        if not (candidate.exists() or candidate.is_symlink()):
            raise ConfigError(f"Profile file {candidate} does not exist; check the path given to --target.")
        return candidate
    shipped = fixtures_dir() / "profiles" / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"Unknown target {name_or_path!r}: pass a profile file (my-api.toml) or one of "
        f"{', '.join(builtin_profiles())}."
    )


def load_profile(name_or_path: str) -> Profile:
    """Read and validate a profile; errors name the file, the key and the fix."""
    from smoke.schema import ProfileSchema  # pydantic: imported when a profile is loaded
    from smoke.schema_errors import validate

    path = find_profile(name_or_path)
    data = read_toml(path, "profile")
    validate(ProfileSchema, data, prefix=f"{path}: ")  # types, ranges and known keys
    return _Parser(path).profile(data)


def check_variables(profile: Profile, environ: Mapping[str, str] | None = None) -> None:
    """Raise a ConfigError naming each used ``[vars]`` entry that has neither its environment variable nor a default."""
    import dataclasses
    import os

    from smoke.placeholders import keys_of

    def strings(value: Any) -> list[str]:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return [s for f in dataclasses.fields(value) for s in strings(getattr(value, f.name))]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, (list, tuple)):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    env = os.environ if environ is None else environ
    used: set[str] = set()
    todo = keys_of([s for f in dataclasses.fields(profile) if f.name != "vars" for s in strings(getattr(profile, f.name))], "var")
    while todo:  # a var the default of a used var needs is used too (unless that var's env var is set)
        name = todo.pop()
        if name in used or name not in profile.vars:
            continue
        used.add(name)
        var = profile.vars[name]
        if not (var.env and env.get(var.env, "")):
            todo |= keys_of(var.default, "var")
    unset = [(name, var.env) for name, var in profile.vars.items()
             if name in used and var.default is None and not (var.env and env.get(var.env, ""))]
    if not unset:
        return
    if len(unset) == 1:
        name, env_name = unset[0]
        fix = f"set {env_name} (or give the variable a default in the profile)" if env_name else "give it a default in the profile"
        raise ConfigError(f"The profile variable {name!r} has no value: {fix}.")
    names = ", ".join(f"{name!r} ({env_name})" if env_name else repr(name) for name, env_name in unset)
    raise ConfigError(f"The profile variables {names} have no value: set their environment variables "
                      "(or give the variables defaults in the profile).")


class _Parser:
    """Turns the TOML tables into a Profile, with precise errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.has_class = False  # a class profile may leave a step's request out: the class answers it

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key} {problem}; {fix}.")

    def keys(self, table: Any, where: str, schema: str) -> dict[str, Any]:
        # Keys and types were checked against smoke.schema.ProfileSchema before parsing.
        if not isinstance(table, dict):
            raise self.fail(where or "the file", "must be a table", f"write it as [{where}]")
        return table

    def statuses(self, value: Any, where: str) -> tuple[int, ...]:
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and 100 <= v <= 599 for v in values):
            raise self.fail(where, "must be an HTTP status or a list of them", "write e.g. [200, 201]")
        return tuple(values)

    def step(self, table: Any, where: str, schema: str = "step") -> Step:
        table = self.keys(table, where, schema)
        method, path = self.action(table, where, runnable=schema in ("step", "purchase"))
        on_status = {}
        for code, alt in (table.get("on_status") or {}).items():
            if not str(code).isdigit():
                raise self.fail(f"{where}.on_status.{code}", "is not an HTTP status", "use e.g. [buyer.on_status.409]")
            on_status[int(code)] = self.step(alt, f"{where}.on_status.{code}")
        secrets = table.get("secrets", [])
        if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
            raise self.fail(f"{where}.secrets", "must be a list of response paths", 'write e.g. ["token"]')
        extract = {k: table[k] for k in ("session_id", "checkout_url", "payment_intent") if k in table}
        given = table.get("given", None)
        if given is None:
            given = {}
        elif not isinstance(given, dict) or not given:
            raise self.fail(f"{where}.given", "must be a non-empty table",
                            'write e.g. given = { id = "${env:SMOKE_INVOICE_ID:-}" }')
        if not isinstance(table.get("per_check", False), bool):
            raise self.fail(f"{where}.per_check", "must be true or false", "write per_check = true")
        return Step(
            name=str(table.get("name") or where.split(".")[0]), method=method.upper(), path=path, json=table.get("json"),
            form=table.get("form"), headers=dict(table.get("headers", {})), params=dict(table.get("params", {})),
            expect_status=self.statuses(table["expect_status"], f"{where}.expect_status") if "expect_status" in table else (),
            secrets=tuple(secrets), on_status=on_status, extract=extract, given=dict(given),
            per_check=bool(table.get("per_check", False)), command=tuple(table.get("command") or ()), cwd=table.get("cwd"),
            env=dict(table.get("env", {})), timeout=table.get("timeout"), base_url=table.get("base_url"),
        )

    def action(self, table: dict[str, Any], where: str, *, runnable: bool) -> tuple[str, str]:
        """The step's method and path ("" for a command, given-only or class-answered step); one sentence per misuse."""
        request, command = table.get("request"), table.get("command")
        if request is not None and command is not None:
            raise self.fail(where, "has both request and command",
                            'keep one: request = "POST /path" sends HTTP, command = ["python", "manage.py", …] runs a local program')
        if command is not None:
            sent = [key for key in ("json", "form", "params", "headers", "expect_status", "on_status", "base_url") if key in table]
            if sent:
                raise self.fail(f"{where}.{sent[0]}", "applies to a request, not to a command",
                                "remove it (a command step takes command, cwd, env, timeout and secrets)")
            return "", ""
        local = [key for key in ("cwd", "env") if key in table]
        if local:
            raise self.fail(f"{where}.{local[0]}", "applies to a command only",
                            'remove it, or run a local program with command = ["python", "manage.py", …]')
        if request is None and runnable and ("given" in table or self.has_class):
            if "base_url" in table:  # a class or given values answer the step: nothing is sent anywhere
                raise self.fail(f"{where}.base_url", "needs a request to send",
                                'add request = "POST /path" (the path under base_url), or remove base_url')
            return "", ""
        if request is None and runnable:
            raise self.fail(where, "has no request, command or given",
                            'add request = "POST /path", command = ["python", "manage.py", …] or given = { id = "…" }')
        if not isinstance(request, str) or len(request.split()) != 2 or request.split()[0].upper() not in METHODS:
            raise self.fail(f"{where}.request", "must be 'METHOD /path'", 'write e.g. request = "POST /api/login"')
        method, path = request.split()
        if not path.startswith("/"):
            raise self.fail(f"{where}.request", "must use a path starting with '/'",
                            "give the path only: the base URL comes from base_url, or else --base-url")
        return method.upper(), path

    def variables(self, raw_vars: Any) -> dict[str, Var]:
        """The ``[vars]`` table: a plain value, or ``{ env, default, secret }``, per name."""
        variables = {}
        if not isinstance(raw_vars, dict):
            raise self.fail("vars", "must be a table", "write [vars] with name = value lines")
        for name, spec in raw_vars.items():
            if isinstance(spec, dict):
                spec = self.keys(spec, f"vars.{name}", "var")
                variables[name] = Var(env=spec.get("env"), default=spec.get("default"), secret=bool(spec.get("secret", False)))
            else:
                variables[name] = Var(env=None, default=spec)
        return variables

    def required_tables(self, data: dict[str, Any]) -> None:
        """A ``class`` that names a class, or else the ``[webhook]`` and (unless declared absent) ``[state]`` tables."""
        if "class" in data:
            if not isinstance(data["class"], str) or ":" not in data["class"]:
                raise self.fail("class", "must be 'package.module:ClassName'", "name an importable Python class")
        elif "webhook" not in data:
            raise self.fail("[webhook]", "is missing", "add a [webhook] table (see docs/profiles.md)")
        elif "state" not in data and (data.get("supports") or {}).get("state") is not False:
            raise self.fail("[state]", "is missing", "add a [state] table (see docs/profiles.md), or declare "
                            "[supports] state = false when the target has no observable effect")

    def state(self, data: dict[str, Any]) -> Step | None:
        """The ``[state]`` step, which must say where the credit state is (``value``)."""
        state = self.step(data["state"], "state", "state") if "state" in data else None
        if state is not None and not isinstance(data["state"].get("value"), str):
            raise self.fail("state.value", "is missing", 'say where the credit state is, e.g. value = "account.balance_cents"')
        return state

    def effect(self, table: Any, state: Step | None) -> dict[str, Any]:
        """The ``[effect]`` table: a ``delta`` or ``from``/``to`` (with ``may_become``), required beside a state."""
        effect = self.keys(table, "effect", "effect")
        if "delta" in effect and ("from" in effect or "to" in effect):
            raise self.fail("effect", "has both delta and from/to", "choose a numeric delta or a from → to change")
        if state is not None and "delta" not in effect and "to" not in effect:
            raise self.fail("effect", "is missing", 'add [effect] with delta = "${var:amount}" or from/to values')
        may_become = effect.get("may_become")
        if may_become is not None and ("to" not in effect or not isinstance(may_become, list)):
            raise self.fail("effect.may_become", "must be a list beside from/to",
                            'list the states a non-crediting event may lead to, e.g. may_become = ["failed"]')
        return effect

    def webhook(self, data: dict[str, Any]) -> dict[str, Any]:
        """The ``[webhook]`` table, whose ``path`` is required unless a class answers."""
        webhook = self.keys(data.get("webhook", {}), "webhook", "webhook")
        if "class" not in data and not str(webhook.get("path", "")).startswith("/"):
            raise self.fail("webhook.path", "is missing or not a path", 'write e.g. path = "/api/webhooks/stripe"')
        return webhook

    def supports(self, table: Any) -> dict[str, Any]:
        """The ``[supports]`` table: every value true or false."""
        supports = self.keys(table, "supports", "supports")
        for key, value in supports.items():
            if not isinstance(value, bool):
                raise self.fail(f"supports.{key}", "must be true or false", f"write {key} = true")
        return supports

    def ledger(self, data: dict[str, Any]) -> Step | None:
        """The ``[ledger]`` step, which must say where its list of entries is (``entries``)."""
        ledger = self.step(data["ledger"], "ledger", "ledger") if "ledger" in data else None
        if ledger is not None and not isinstance(data["ledger"].get("entries"), str):
            raise self.fail("ledger.entries", "is missing", 'say where the list of entries is, e.g. entries = "events"')
        return ledger

    def rate(self, target: dict[str, Any]) -> int | None:
        """``[target] rate_limit_per_minute``: a positive whole number, or None."""
        rate = target.get("rate_limit_per_minute")
        if rate is not None and (not isinstance(rate, int) or rate <= 0):
            raise self.fail("target.rate_limit_per_minute", "must be a positive whole number", "write e.g. 60")
        return rate

    def profile(self, data: dict[str, Any]) -> Profile:
        """The Profile ``data`` describes, each table checked in turn; a ConfigError names the first mistake."""
        self.keys(data, "", "")
        self.has_class = "class" in data
        target = self.keys(data.get("target", {}), "target", "target")
        variables = self.variables(data.get("vars", {}))
        self.required_tables(data)
        state = self.state(data)
        effect = self.effect(data.get("effect", {}), state)
        webhook = self.webhook(data)
        supports = self.supports(data.get("supports", {}))
        auth = self.keys(data.get("auth", {}), "auth", "auth")
        setup = data.get("setup", [])
        if isinstance(setup, dict):
            setup = [setup]
        ledger = self.ledger(data)
        transient = (data.get("drills") or {}).get("transient")
        outage = (data.get("drills") or {}).get("stripe_outage")
        rate = self.rate(target)
        return Profile(
            name=str(data.get("name") or self.path.stem),
            source=self.path,
            description=str(data.get("description", "")),
            class_path=data.get("class"),
            health=self.step({"request": target["health"]}, "target.health") if "health" in target else None,
            production=bool(target.get("production", False)),
            embedded=target.get("embedded"),
            rate_limit_per_minute=rate,
            rate_limits=dict(target.get("rate_limits") or {}),
            vars=variables,
            buyer=self.step(data["buyer"], "buyer") if "buyer" in data else None,
            setup=tuple(self.step(s, f"setup.{i}") for i, s in enumerate(setup)),
            auth_headers=dict(auth.get("headers", {})),
            state=state,
            state_value=data.get("state", {}).get("value", ""),
            state_where=dict(data.get("state", {}).get("where", {})),
            delta=effect.get("delta"),
            state_from=effect.get("from"),
            state_to=effect.get("to"),
            state_may_become=tuple(effect["may_become"]) if effect.get("may_become") is not None else None,
            purchase=self.step(data["purchase"], "purchase", "purchase") if "purchase" in data else None,
            webhook_path=str(webhook.get("path", "")),
            credit_event=str(webhook.get("credit_event", "checkout.session.completed")),
            credit_object=dict(webhook.get("object", {})),
            api_version=str(webhook.get("api_version", DEFAULT_API_VERSION)),
            content_type=str(webhook.get("content_type", "application/json; charset=utf-8")),
            webhook_expect_status=self.statuses(webhook["expect_status"], "webhook.expect_status") if "expect_status" in webhook else (),
            webhook_reject_status=self.statuses(webhook["reject_status"], "webhook.reject_status") if "reject_status" in webhook else (),
            supports=dict(supports),
            ledger=ledger,
            ledger_entries=str(data.get("ledger", {}).get("entries", "")),
            transient_break=self.step({"name": "break", **transient["break"]}, "drills.transient.break") if transient else None,
            transient_mend=self.step({"name": "mend", **transient["mend"]}, "drills.transient.mend") if transient else None,
            stripe_outage_route=str(outage.get("route", "/v1/")) if isinstance(outage, dict) else None,
            stripe_outage_kind=str(outage.get("kind", "api_error")) if isinstance(outage, dict) else "api_error",
        )
