"""JSON the app reads from a request (token segments, lifecycle payloads, webhooks), parsed within bounds.

Every such document comes from outside and is parsed here, so that each refuses the same hostile shapes with
the caller's 4xx: nesting deeper than the caller allows (the standard parser recurses, and a few thousand
levels end in RecursionError), ``NaN``/``Infinity`` (and numbers too large for a float), which no JSON column
or strict reader takes, and strings that no database stores: lone surrogates cannot be encoded as UTF-8, and
PostgreSQL refuses ``\\u0000`` in text and jsonb.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from jira_app.exceptions import ConnectError

# Deeper than any payload Jira sends (an issue's rich-text description nests a few dozen levels at most), and
# far below the interpreter's recursion limit, so that whatever later walks the value recursively cannot fail.
MAX_DEPTH = 64


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as strict JSON within the bounds above; raises ValueError saying what is wrong."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"the JSON nests deeper than {max_depth} levels") from None
    # UnicodeDecodeError is a ValueError: bytes that are not UTF-8 (or UTF-16/32, which json detects).
    _check(value, max_depth)
    return value


def _check(value: Any, max_depth: int) -> None:
    """Walk ``value`` without recursion: depth, finite numbers, storable strings."""
    _check_scalar(value)
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        container, depth = pending.pop()
        if depth > max_depth:
            raise ValueError(f"the JSON nests deeper than {max_depth} levels")
        if isinstance(container, dict):
            for key in container:
                _check_string(key)
            members: Any = container.values()
        else:
            members = container
        # Scalars are checked here rather than queued: a token or body may hold thousands of them.
        for member in members:
            if isinstance(member, (dict, list)):
                pending.append((member, depth + 1))
            else:
                _check_scalar(member)


def _check_scalar(value: Any) -> None:
    if isinstance(value, str):
        _check_string(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the JSON holds a number too large for a float")


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise ValueError("the JSON holds a NUL character (\\u0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("the JSON holds a lone surrogate (an unpaired \\ud800-\\udfff escape)") from None


def json_object(body: bytes, *, max_bytes: int, error: type[ConnectError]) -> dict[str, Any]:
    """Parse a request body as a JSON object; raise ``error`` saying what is wrong otherwise."""
    if len(body) > max_bytes:
        raise error(f"the body is larger than {max_bytes} bytes")
    try:
        data = loads(body)
    except ValueError as exc:
        raise error(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error("the body is not a JSON object")
    return data
