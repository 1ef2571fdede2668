"""The declared shape of profiles and receipts, as pydantic models (smoke/schema_errors.py words their errors).

Closed tables forbid unknown keys; the free ones (``json``, ``form``, ``params``, ``headers``,
``[webhook.object]``, ``[state] where``, ``given``, a receipt's ``context`` and ``baseline``)
take any key but only JSON-like values. Cross-key rules (``delta`` or ``from``/``to``, a
``[state]`` or ``[supports] state = false``, request syntax) stay in smoke/profiles.py.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# Stripe's largest amount (99,999,999 minor units: $999,999.99); more is a typo.
MAX_AMOUNT = 99_999_999
MAX_RATE = 60_000


def _fail(expected: str, *where: str | int) -> PydanticCustomError:
    """A schema error whose message is what was expected; ``where`` continues the error's location."""
    return PydanticCustomError("expected", "{expected}", {"expected": expected, "where": where})


def _json_like(value: Any) -> Any:
    """Accept strings, numbers, booleans, null, lists and tables of them; point at the first other value."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, (*where, str(k))) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise _fail("a finite number", *where)
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            raise _fail("a string, number, boolean, list or table (write dates and times as strings)", *where)
    return value


def _scalars(value: Any) -> Any:
    """Query and form values: a string, number or boolean, or a list of them."""
    for i, item in enumerate(value if isinstance(value, list) else [value]):
        if (isinstance(item, float) and not math.isfinite(item)) or not isinstance(item, (str, int, float, bool)):
            where = (i,) if isinstance(value, list) else ()
            raise _fail("a string, number or boolean, or a list of them", *where)
    return value


def _one_status(value: Any) -> Any:
    return [value] if isinstance(value, int) else value


def _one_table(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


def _positive_or_placeholder(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_AMOUNT:
        raise _fail(f'a positive number up to {MAX_AMOUNT:,} or a placeholder such as "${{var:amount}}"')
    return value


def _aware_time(value: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail("an ISO date and time with a time zone, e.g. 2025-01-01T12:00:00+00:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _fail("an ISO date and time with a time zone (this one has none), e.g. 2025-01-01T12:00:00+00:00")
    return value


def _context(value: dict[str, Any]) -> dict[str, Any]:
    """A receipt's step results; its ``var`` entry restores the profile's variables, so it must be a table."""
    if not isinstance(value.get("var", {}), dict):
        raise _fail("an object of the profile's variables", "var")
    return value


def _embedded_name(value: str) -> str:
    from smoke.reference import embedded_names

    if value not in embedded_names():
        raise _fail(f"one of {', '.join(embedded_names())} (a reference target of the harness)")
    return value


JsonLike = Annotated[Any, AfterValidator(_json_like)]
Table = dict[str, JsonLike]
Scalars = Annotated[Any, AfterValidator(_scalars)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                                  description="a header name (letters, digits and -)")]
HeaderValue = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$", description="a string on one line")]
Status = Annotated[int, Field(ge=100, le=599, description="an HTTP status from 100 to 599")]
StatusKey = Annotated[str, Field(pattern=r"^[1-5][0-9][0-9]$", description="an HTTP status such as 409")]
Statuses = Annotated[list[Status], BeforeValidator(_one_status)]
Text = Annotated[str, Field(min_length=1)]

_REQUEST = "'METHOD /path' (e.g. request = \"POST /api/login\")"
_HEADERS = "a table of header names and string values (e.g. { X-API-Key = \"${var:api_key}\" })"
_STATUSES = "an HTTP status or a list of them (e.g. [200, 201])"
_PARAMS = "a table of query or form values (strings, numbers or booleans)"
MAX_COMMAND_SECONDS = 3600
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="an environment variable name (letters, digits and _)")]


RoutePattern = Annotated[str, Field(pattern=r"^/[^\s]*$", max_length=500,
                                    description='a path pattern starting with / (e.g. "/api/billing/*")')]
PerMinute = Annotated[int, Field(ge=1, le=MAX_RATE, description=f"a whole number of requests a minute from 1 to {MAX_RATE:,} "
                                                                 "(e.g. 60)")]


class _Closed(BaseModel):
    """A table whose keys are all declared: anything else is a typo."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class _Request(_Closed):
    # request, [state] value and [ledger] entries are required, but smoke/profiles.py says so (after [webhook]/[state]).
    request: str | None = Field(default=None, description=_REQUEST)
    params: dict[str, Scalars] = Field(default={}, description=_PARAMS)


class _Sent(_Request):
    json_: JsonLike = Field(default=None, alias="json", description="a JSON body (a table, list or value)")
    form: dict[str, Scalars] | None = Field(default=None, description=_PARAMS)
    headers: dict[HeaderName, HeaderValue] = Field(default={}, description=_HEADERS)
    expect_status: Statuses | None = Field(default=None, description=_STATUSES)
    secrets: list[str] = Field(default=[], description='a list of response paths to redact (e.g. ["token"])')
    # Steps beyond HTTP to --base-url (smoke/commands.py, TargetClient.run_step); which key goes with which: smoke/profiles.py.
    command: list[Text] | None = Field(
        default=None, min_length=1, description='a list of strings, the program and its arguments, never a shell string '
                                                '(e.g. command = ["python", "manage.py", "issue_invoice"])')
    cwd: Text | None = Field(default=None, description='a directory to run the command in (e.g. cwd = "../backend")')
    env: dict[EnvName, str] = Field(default={}, description='a table of environment variables and string values '
                                                            '(e.g. env = { DJANGO_SETTINGS_MODULE = "app.settings" })')
    timeout: float | None = Field(default=None, gt=0, le=MAX_COMMAND_SECONDS,
                                  description=f"a number of seconds above 0 and at most {MAX_COMMAND_SECONDS:,} (e.g. timeout = 120)")
    base_url: str | None = Field(default=None, pattern=r"^(https?://|\$\{)[^\s]*$",
                                 description='an http(s) URL or a placeholder (e.g. base_url = "${env:ADMIN_URL}")')


class Step(_Sent):
    """``[buyer]``, ``[[setup]]`` and ``on_status`` alternatives."""

    name: str | None = Field(default=None, description='the step\'s name, used as ${NAME:…} (e.g. name = "invoice")')
    on_status: dict[StatusKey, Step] = Field(default={}, description="steps keyed by HTTP status (e.g. [buyer.on_status.409])")
    given: Table | None = Field(default=None, min_length=1,
                                description='a non-empty table of values (e.g. given = { id = "${env:SMOKE_INVOICE_ID:-}" })')
    per_check: bool = Field(default=False, description="true or false (write per_check = true)")


class Purchase(_Sent):
    """``[purchase]``: a step that starts a Checkout Session or a PaymentIntent."""

    on_status: dict[StatusKey, Step] = Field(default={}, description="steps keyed by HTTP status (e.g. [purchase.on_status.409])")
    session_id: str | None = Field(default=None, description="the path of the session id in the answer")
    checkout_url: str | None = Field(default=None, description="the path of the Checkout URL in the answer")
    payment_intent: str | None = Field(default=None, description="the path of the PaymentIntent id in the answer")


class State(_Request):
    """``[state]``: where the credit state is read."""

    json_: JsonLike = Field(default=None, alias="json", description="a JSON body (a table, list or value)")
    headers: dict[HeaderName, HeaderValue] = Field(default={}, description=_HEADERS)
    value: str | None = Field(default=None, description='the path of the credit state in the answer (e.g. value = "account.balance_cents")')
    where: Table = Field(default={}, description="a table")


class Ledger(_Request):
    """``[ledger]``: the buyer's history of credits."""

    headers: dict[HeaderName, HeaderValue] = Field(default={}, description=_HEADERS)
    entries: str | None = Field(default=None, description='the path of the list of entries in the answer (e.g. entries = "events")')


class Target(_Closed):
    """``[target]``."""

    health: str | None = Field(default=None, description="'METHOD /path' (e.g. health = \"GET /health\")")
    production: bool = False
    embedded: Annotated[str, AfterValidator(_embedded_name)] | None = None
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=MAX_RATE, description=f"a whole number of requests a minute from 1 to {MAX_RATE:,} (e.g. 60)")
    rate_limits: dict[RoutePattern, PerMinute] = Field(
        default={}, description='a table of path patterns and requests a minute (e.g. { "/api/billing/*" = 60 })')


class Var(_Closed):
    """A ``[vars]`` entry: ``NAME = value`` or ``NAME = { env = …, default = …, secret = true }``."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                            description='the name of an environment variable (e.g. env = "SMOKE_TOPUP_CENTS")')
    default: JsonLike = None
    secret: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _plain_value(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, dict):
            return handler(data)
        return handler({"default": _json_like(data)})


class Auth(_Closed):
    """``[auth]``."""

    headers: dict[HeaderName, HeaderValue] = Field(default={}, description=_HEADERS)


class Effect(_Closed):
    """``[effect]``: a numeric ``delta`` or a ``from`` → ``to`` change."""

    delta: Annotated[Any, AfterValidator(_positive_or_placeholder)] = None
    from_: JsonLike = Field(default=None, alias="from")
    to: JsonLike = None
    may_become: list[JsonLike] | None = Field(
        default=None, description='a list of the states a non-crediting event may lead to (e.g. may_become = ["failed"])')


class Webhook(_Closed):
    """``[webhook]``."""

    path: str | None = Field(default=None, description='a path (e.g. path = "/api/webhooks/stripe")')
    credit_event: str | None = Field(default=None, pattern=r"^[a-z_]+(\.[a-z_]+)+$",
                                     description="a string (an event type such as checkout.session.completed)")
    object: Table = Field(default={}, description="a table merged into data.object of the crediting event")
    api_version: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$",
                                    description="a Stripe API version (e.g. 2025-04-30.basil or 2020-08-27)")
    content_type: str | None = Field(default=None, min_length=1, pattern=r"^[^\x00-\x1f\x7f]*$",
                                     description='a Content-Type (e.g. "application/json; charset=utf-8")')
    expect_status: Statuses | None = Field(default=None, description=_STATUSES)
    reject_status: Statuses | None = Field(default=None, description=_STATUSES)


class Supports(_Closed):
    """``[supports]``: which checks the target can take."""

    state: bool | None = None
    simulated_credit: bool | None = None
    purchase: bool | None = None
    refunds: bool | None = None
    ledger: bool | None = None
    async_payments: bool | None = None


class Transient(_Closed):
    """``[drills.transient]``: how to make the target's processing fail for a moment, after its signature check."""

    break_: Step = Field(alias="break", description="a step that makes processing fail (e.g. suspend the buyer's account)")
    mend: Step = Field(description="a step that undoes it (e.g. reinstate the account)")


class StripeOutage(_Closed):
    """``[drills.stripe_outage]``: the webhook asks Stripe while handling an event; which calls an outage fails."""

    route: str = Field(default="/v1/", pattern=r"^/v1[^\s]*$",
                       description='a path prefix of Stripe\'s API starting with /v1 (e.g. route = "/v1/payment_intents")')
    kind: Literal["api_error", "timeout", "reset"] = Field(
        default="api_error", description='"api_error" (a 500), "timeout" or "reset"')


class Drills(_Closed):
    """``[drills]``: what the failure-path drills need from the target."""

    transient: Transient | None = None
    stripe_outage: StripeOutage | None = None


class ProfileSchema(_Closed):
    """A whole profile file (docs/profiles.md, "Key reference")."""

    name: str | None = Field(default=None, description='a string (e.g. name = "my-api")')
    description: str | None = None
    class_: str | None = Field(default=None, alias="class", description="'package.module:ClassName' (an importable Python class)")
    target: Target = Target()
    vars: dict[str, Var] = {}
    buyer: Step | None = None
    setup: Annotated[list[Step], BeforeValidator(_one_table)] = Field(
        default=[], description="a [[setup]] table, or a list of them")
    auth: Auth = Auth()
    state: State | None = None
    effect: Effect = Effect()
    purchase: Purchase | None = None
    webhook: Webhook = Webhook()
    supports: Supports = Supports()
    ledger: Ledger | None = None
    drills: Drills = Drills()

    @model_validator(mode="after")
    def _amount_in_range(self) -> ProfileSchema:
        amount = self.vars.get("amount")
        if amount is not None and isinstance(amount.default, int) and not isinstance(amount.default, bool) \
                and not 0 < amount.default <= MAX_AMOUNT:
            raise _fail(f"a positive amount in minor units up to {MAX_AMOUNT:,} (e.g. 500 for $5.00)",
                        "vars", "amount", "default")
        return self


STATUSES = ("created", "paid", "declined", "pay_failed", "verified", "not_paid", "not_credited", "paid_not_credited",
            "wrong_amount", "credited_twice", "inconclusive")
AwareTime = Annotated[str, AfterValidator(_aware_time)]
StripeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,255}$")]
Url = Annotated[str, Field(pattern=r"^https?://[^\s]+$")]


class HistoryEntry(_Closed):
    """One phase in a receipt's history."""

    phase: str
    at: AwareTime
    status: str
    detail: str


class ReceiptEffect(_Closed):
    """``{"delta": 500}`` or ``{"from": "open", "to": "paid"}``."""

    delta: Annotated[float, Field(gt=0, le=MAX_AMOUNT)] | None = Field(
        default=None, description=f"a positive number up to {MAX_AMOUNT:,}")
    from_: JsonLike = Field(default=None, alias="from")
    to: JsonLike = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReceiptEffect:
        given = self.model_fields_set
        if ("delta" in given) == ("to" in given) or ("delta" in given and "from_" in given):
            raise _fail('{"delta": N} or {"from": A, "to": B}')
        return self


class ReceiptSchema(_Closed):
    """A receipt file, version 1 (README, "Receipts")."""

    schema_: Literal["stripe-smoke/receipt"] = Field(alias="schema")
    version: Literal[1]
    target: Text
    base_url: Url = Field(description="an http(s) URL")
    run_id: str
    buyer: str
    session_id: StripeId | None = Field(description="a Stripe id (letters, digits and _) or null")
    checkout_url: Url | None = Field(description="an http(s) URL or null")
    effect: ReceiptEffect
    baseline: JsonLike
    context: Annotated[Table, AfterValidator(_context)]
    payment_intent: StripeId | None = Field(description="a Stripe id (letters, digits and _) or null")
    stripe_api_base: str | None
    receipt_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="an id of letters, digits, _ and -")
    created_at: AwareTime
    expires_at: AwareTime
    status: Literal[STATUSES]  # type: ignore[valid-type]
    history: list[HistoryEntry]
