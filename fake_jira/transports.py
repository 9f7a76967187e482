"""How requests travel between the simulator and the app under test, in both directions.

Jira → app: an ``AppTransport`` sends a request target (path and query, as Jira would put them on the wire)
to the app wherever it runs: ``DjangoClientTransport`` in this process without a socket, or
``RequestsTransport`` over real HTTP, to the origin of the descriptor's ``baseUrl`` as Jira does. For an app
that listens elsewhere than its public baseUrl (behind a tunnel), ``ConnectTo`` moves only the connection,
as curl's ``--connect-to`` does: the URL, the Host header and the tokens' qsh stay those of baseUrl.

App → Jira: ``ResponsesRouter`` answers the app's outbound ``requests`` calls to the simulator's URLs with
the simulator's handlers, in process. Loopback URLs pass through (a server-mode simulator, a live app); any
other call fails loudly, listing the simulator's URLs, so nothing leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
import responses

from fake_jira.exceptions import FakeJiraError
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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL: where a request target is sent."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class ConnectTo:
    """curl's ``--connect-to HOST1:PORT1:HOST2:PORT2``: requests for HOST1:PORT1 connect to HOST2:PORT2.

    An empty HOST1 or PORT1 matches any; an empty HOST2 or PORT2 keeps the request's own. The request keeps
    its URL and Host header, so the app sees (and hashes) exactly what Jira would send it. As with curl, the
    connection keeps the request's scheme: for an https baseUrl, HOST2:PORT2 must speak TLS.
    """

    host: str
    port: int | None
    to_host: str
    to_port: int | None

    @classmethod
    def parse(cls, text: str) -> ConnectTo:
        found = re.fullmatch(r"(\[[^\]]*\]|[^:]*):(\d*):(\[[^\]]*\]|[^:]*):(\d*)", text)
        if found is None or not (found[3] or found[4]):
            raise FakeJiraError(
                f"--connect-to {text!r} is not HOST1:PORT1:HOST2:PORT2, e.g. app.example.com:443:127.0.0.1:3000"
            )
        return cls(found[1], int(found[2]) if found[2] else None, found[3], int(found[4]) if found[4] else None)

    def __str__(self) -> str:
        return f"{self.host}:{self.port or ''}:{self.to_host}:{self.to_port or ''}"

    def address(self, url: str) -> str | None:
        """The ``host:port`` to connect to for ``url``; None when this rule does not apply to it."""
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        host = parts.hostname or ""
        if self.host.strip("[]") not in ("", host) or self.port not in (None, port):
            return None
        to_host = self.to_host or (f"[{host}]" if ":" in host else host)
        return f"{to_host}:{self.to_port or port}"


class RequestsTransport:
    """Reaches an app over HTTP at ``base_url`` (scheme, host and port; the target brings the path).

    ``connect_to`` rules, the first that applies, send the connection elsewhere (see ``ConnectTo``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        connect_to: Sequence[ConnectTo] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.connect_to = tuple(connect_to)

    def _address(self, url: str) -> tuple[str, dict[str, str]]:
        """The URL to open for ``url``, and the Host header that keeps the original when it moves."""
        for rule in self.connect_to:
            address = rule.address(url)
            if address is not None:
                parts = urlsplit(url)
                return urlunsplit(parts._replace(netloc=address)), {"Host": parts.netloc}
        return url, {}

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        url, host = self._address(self.base_url + target)
        response = self.session.request(
            method,
            url,
            headers={**headers, **host},
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
