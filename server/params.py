"""Query parameters and path ids, read strictly.

What a handler takes from the URL reaches SQL, so it is held to what the API documents before
it gets there: Python's `int()` accepts `'١٢'` (Arabic-Indic digits), `' 12 '`, `'+12'` and
`'1_000'`, and `uuid.UUID()` accepts braces, `urn:uuid:` and missing hyphens; PostgreSQL
refuses a NUL character in any text value (SQLite takes it), so a NUL that reached a query
answered 500 on one database only. Here an integer is ASCII digits within its range, an id a
hyphenated UUID, a text value free of NUL and other control characters; anything else is a
4xx in the project's error shape.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from sync.errors import Invalid, NotFound

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# C0 controls (NUL among them) and DEL: never part of a filter value or an id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_uuid(value: str) -> bool:
    """True for a hyphenated UUID in ASCII hex (either case)."""
    return _UUID.fullmatch(value) is not None


def int_param(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """`query[name]` as an int in [lo, hi] written in ASCII digits; `default` when absent.
    422 `invalid` otherwise (`details.field` names the parameter)."""
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise Invalid(f"{name} must be an integer written in digits 0-9", {"field": name})
    # Compare the length first: int() of a 5,000-digit string raises (and costs) for nothing.
    if len(raw) > 18 or not lo <= int(raw) <= hi:
        raise Invalid(f"{name} must be between {lo} and {hi}", {"field": name})
    return int(raw)


def optional_int_param(query: Mapping[str, str], name: str, lo: int, hi: int) -> int | None:
    """As `int_param`, None when absent."""
    return int_param(query, name, lo, lo, hi) if name in query else None


def bool_param(query: Mapping[str, str], name: str) -> bool:
    """`true`/`1` or `false`/`0` (False when absent); 422 `invalid` otherwise."""
    raw = query.get(name)
    if raw is None or raw in ("false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise Invalid(f"{name} must be true or false", {"field": name})


def uuid_param(query: Mapping[str, str], name: str) -> str | None:
    """`query[name]` as a lowercase UUID, None when absent; 422 `invalid` when not a UUID."""
    raw = query.get(name)
    if raw is None:
        return None
    if not is_uuid(raw):
        raise Invalid(f"{name} must be a UUID", {"field": name})
    return raw.lower()


def text_param(
    query: Mapping[str, str],
    name: str,
    *,
    choices: Collection[str] | None = None,
    max_length: int = 200,
) -> str | None:
    """`query[name]`, None when absent or empty; 422 `invalid` when it holds a control
    character (NUL included), is longer than `max_length`, or is not one of `choices`."""
    raw = query.get(name)
    if not raw:
        return None
    if len(raw) > max_length or _CONTROL.search(raw):
        raise Invalid(
            f"{name} must be text of at most {max_length} characters without control characters",
            {"field": name},
        )
    if choices is not None and raw not in choices:
        raise Invalid(f"{name} must be one of {', '.join(sorted(choices))}", {"field": name})
    return raw


def path_id(match_info: Mapping[str, str], name: str, what: str) -> str:
    """The `{name}` segment of the path as a lowercase UUID; 404 `not_found` ("no such
    <what>") when it is not one: no record has such an id, so the answer is the same as for
    an unknown one."""
    raw = match_info[name]
    if not is_uuid(raw):
        raise NotFound(f"no such {what}", {"field": name})
    return raw.lower()
