"""HTTP requests and responses as plain values, so one handler serves every transport and server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from requests.structures import CaseInsensitiveDict


def request_line(method: str, target: str) -> str:
    """``METHOD path?query`` with any ``jwt`` parameter's value elided: tokens stay out of logs."""
    path, _, query = target.partition("?")
    query = "&".join("jwt=…" if pair.startswith("jwt=") else pair for pair in query.split("&") if pair)
    return f"{method.upper()} {path}" + (f"?{query}" if query else "")


def _headers(headers: Mapping[str, str] | None) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict(dict(headers or {}))


@dataclass(frozen=True)
class Request:
    """A request as received: ``url`` is absolute and still percent-encoded, as the client sent it."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", _headers(self.headers))

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    def summary(self) -> str:
        return request_line(self.method, f"{self.path}?{self.query}")


@dataclass(frozen=True)
class Response:
    """What came back, the same whichever transport carried it."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _headers(self.headers))

    @classmethod
    def from_json(cls, status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, {**(headers or {}), "Content-Type": "application/json"}, json.dumps(data).encode())

    @classmethod
    def from_text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, {"Content-Type": content_type}, text.encode())

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)
