"""Turn a pydantic ValidationError into one sentence: the file, the key path, what is expected, what was found."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from smoke.errors import ConfigError
from smoke.redact import default_redactor


def validate(model: type[BaseModel], data: Any, *, prefix: str, fix: str = "", word: str = "table") -> BaseModel:
    """Validate ``data``; the first problem is a ConfigError: ``{prefix}{key path} must be …, not …[; fix].``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, model, data, prefix=prefix, fix=fix, word=word) from None
    except RecursionError:
        raise ConfigError(f"{prefix}the file nests tables or lists too deeply; flatten it.") from None


def explain(exc: ValidationError, model: type[BaseModel], data: Any, *, prefix: str, fix: str = "",
            word: str = "table") -> ConfigError:
    """One sentence for the first error of ``exc``: where, what was expected, what was found (redacted)."""
    error = exc.errors(include_url=False)[0]
    kind, ctx, found = error["type"], error.get("ctx") or {}, error["input"]
    where = tuple(ctx.get("where", ())) if kind == "expected" else ()
    for step in where:
        found = found[step] if isinstance(found, (dict, list)) else found
    described, holder = _locate(model, (*error["loc"], *where))
    loc = tuple(s for s in (*error["loc"], *where) if s != "[key]")
    if kind == "extra_forbidden":
        allowed = sorted(_fields(holder)) if holder else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        problem = f"is not a known key; did you mean {close[0]!r}" if close else \
            f"is not a known key; the keys allowed here are {', '.join(allowed)}"
    elif kind == "missing":
        problem = f"is missing; it must be {described or _generic(error, word)}"
    else:
        expected = str(ctx["expected"]) if kind == "expected" else described or _generic(error, word)
        problem = f"must be {expected}, not {_found(found, loc, data, word)}"
    sentence = f"{prefix}{_path(loc) if loc else 'the file'} {problem}{'; ' + fix if fix else ''}."
    return ConfigError(default_redactor().redact(sentence))


def _generic(error: Any, word: str) -> str:
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    key = next((s for s in reversed(loc) if isinstance(s, str) and s != "[key]"), "key")
    return {
        "string_type": "a string", "int_type": "a whole number", "float_type": "a number",
        "bool_type": f"true or false (write {key} = true)", "list_type": "a list",
        "dict_type": _a(word), "model_type": _a(word), "model_attributes_type": _a(word),
        "literal_error": f"one of {ctx.get('expected', '')}",
        "string_pattern_mismatch": "text of the expected form",
        "string_too_short": "a non-empty string", "too_short": f"a non-empty {word}",
        "greater_than": f"more than {ctx.get('gt')}", "greater_than_equal": f"at least {ctx.get('ge')}",
        "less_than": f"less than {ctx.get('lt')}", "less_than_equal": f"at most {ctx.get('le')}",
        "finite_number": "a finite number",
    }.get(kind, f"valid ({str(error.get('msg', '')).lower()})")


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _found(value: Any, loc: tuple[Any, ...], data: Any, word: str) -> str:
    if _secret_place(loc, data):
        return "the value given (not shown: it may be a secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 30 else text[:27] + "…"
    if isinstance(value, str):
        return repr(value if len(value) <= 50 else value[:47] + "…")
    if isinstance(value, dict):
        return _a(word) if value else f"an empty {word}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return f"the date/time {value.isoformat()}"
    return f"a {type(value).__name__}"


_SECRETISH = re.compile(r"(?i)token|secret|password|passwd|api[_-]?key|apikey|credential|private|authorization|cookie")


def _secret_place(loc: tuple[Any, ...], data: Any) -> bool:
    """True when the value at ``loc`` may be a credential: a credential-named key, a secret var, a receipt's context."""
    keys = [s for s in loc if isinstance(s, str) and s not in ("secret", "secrets")]  # the harness's own flags
    if (keys and _SECRETISH.search(keys[-1])) or loc[:1] == ("context",):
        return True
    if len(loc) >= 2 and loc[0] == "vars" and (len(loc) == 2 or loc[2] == "default") and isinstance(data, dict):
        table = data.get("vars")
        spec = table.get(loc[1]) if isinstance(table, dict) else None
        return bool(_SECRETISH.search(str(loc[1]))) or (isinstance(spec, dict) and spec.get("secret", False) is not False)
    return False


def _path(loc: tuple[Any, ...]) -> str:
    parts = []
    for seg in loc:
        text = str(seg)
        if len(text) > 40:
            text = text[:37] + "…"
        parts.append(text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else '"' + text.replace('"', '\\"') + '"')
    return ".".join(parts)


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """The type inside Annotated[…] and Optional[…], and the description its Field(...) gives, if any."""
    described = None
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp, *meta = get_args(tp)
            described = next((m.description for m in meta if isinstance(m, FieldInfo) and m.description), described)
        elif origin in (Union, types.UnionType) and len([a for a in get_args(tp) if a is not type(None)]) == 1:
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp, described


def _locate(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str | None, type[BaseModel] | None]:
    """What the schema says is expected at ``loc`` (None: nothing specific), and the model whose key ``loc`` ends at."""
    tp: Any = model
    described: str | None = None
    holder: type[BaseModel] | None = None
    i = 0
    while True:
        tp, inner = _unwrap(tp)
        described = inner or described
        if i >= len(loc):
            return described, holder
        described = None  # going deeper: only what is said about the deeper value counts
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            holder = tp
            field = _fields(tp).get(loc[i]) if isinstance(loc[i], str) else None
            if field is None:
                return None, holder
            tp, described = field.annotation, field.description
        elif get_origin(tp) is dict:
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                tp, i = get_args(tp)[0], i + 1
            else:
                tp = get_args(tp)[1]
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        else:
            return None, holder
        i += 1
