"""How requests travel between the simulator and the app under test, in both directions.

Jira → app: an ``AppTransport`` sends a request target (path and query, as Jira would put them on the wire)
to the app wherever it runs: ``DjangoClientTransport`` in this process without a socket, or
``RequestsTransport`` over real HTTP. The app's descriptor ``baseUrl`` is what tokens are bound to; the
transport is only where the app actually listens.

App → Jira: ``ResponsesRouter`` answers the app's outbound ``requests`` calls to the simulator's URLs with
the simulator's handlers, in process. Loopback URLs pass through (a server-mode simulator, a live app); any
other call fails loudly, listing the simulator's URLs, so nothing leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import requests
import responses

from fake_jira.messages import Request, Response

if TYPE_CHECKING:
    from django.test import Client

LOOPBACK = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class AppTransport(Protocol):
    """Sends one request to the app and returns its response; ``target`` is a path with an optional query."""

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response: ...


class DjangoClientTransport:
    """Reaches a Django app in this process through ``django.test.Client`` (the only code that knows Django)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        extra = dict(headers)
        content_type = next((extra.pop(name) for name in list(extra) if name.lower() == "content-type"), "")
        # The test client keeps the raw query string of the path it is given, as a server would.
        response = self.client.generic(
            method, target, data=body, content_type=content_type or "application/octet-stream", headers=extra
        )
        # getvalue() joins a streaming response's chunks too.
        return Response(response.status_code, dict(response.items()), response.getvalue())


class RequestsTransport:
    """Reaches an app over HTTP at ``base_url`` (scheme, host and port; the target brings the path)."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        response = self.session.request(
            method,
            self.base_url + target,
            headers=dict(headers),
            data=body or None,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        )
        with response:
            try:
                content = response.content
            except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError):
                # The app answered, then reset the connection: what a server refusing an oversized request
                # (431, 413) does while the client still sends. Its status is the answer; the body is lost.
                content = b""
        return Response(response.status_code, dict(response.headers), content)


class JiraHost(Protocol):
    """What answers the app's outbound calls: the simulator (FakeJira), seen from here."""

    def owns(self, url: str) -> bool: ...

    def handle(self, request: Request) -> Response: ...

    def describe_urls(self) -> str: ...


class ResponsesRouter:
    """Answers in-process ``requests`` calls to ``fake``'s URLs; a context manager, like ``responses`` itself."""

    def __init__(self, fake: JiraHost, *, passthrough: tuple[str | re.Pattern[str], ...] = (LOOPBACK,)) -> None:
        self.fake = fake
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for method in _METHODS:
            self.mock.add_callback(method, re.compile(r".*"), self._answer, content_type=None, match=[self._owned])
        for prefix in passthrough:
            self.mock.add_passthru(prefix)

    def _owned(self, request: requests.PreparedRequest) -> tuple[bool, str]:
        if self.fake.owns(str(request.url)):
            return True, ""
        return False, f"not a fake_jira URL ({self.fake.describe_urls()})"

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        response = self.fake.handle(Request(str(request.method), str(request.url), dict(request.headers), body))
        return response.status, dict(response.headers), response.body

    def start(self) -> None:
        self.mock.start()

    def stop(self) -> None:
        self.mock.stop()

    def __enter__(self) -> ResponsesRouter:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
