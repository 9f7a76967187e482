"""Request bodies Jira sends (lifecycle payloads, webhooks): a JSON object of bounded size, or a 400."""

from __future__ import annotations

import json
from typing import Any

from jira_app.exceptions import ConnectError


def json_object(body: bytes, *, max_bytes: int, error: type[ConnectError]) -> dict[str, Any]:
    """Parse ``body`` as a JSON object; raise ``error`` saying what is wrong otherwise."""
    if len(body) > max_bytes:
        raise error(f"the body is larger than {max_bytes} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise error("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise error("the body is not a JSON object")
    return data
