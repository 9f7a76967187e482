"""The standalone HTTP server: a thin shell over ``FakeJira.handle``, and ``ThreadedServer`` for tests.

The server's FakeJira is built after the socket is bound, because its URLs (``UrlScheme.served_at``) hold
the port, which is only known then when the port is 0.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from fake_jira import control
from fake_jira.messages import Request, Response
from fake_jira.simulator import FakeJira
from fake_jira.urls import UrlScheme

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# The standalone server's port, and where an app already running expects its install keys.
DEFAULT_PORT = 8001
# How often serve_forever() looks for a shutdown request: stop() waits up to this long (the default is 0.5 s).
_POLL_SECONDS = 0.05


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port nothing listens on now, for a server or an app process to bind next."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class FakeJiraHTTPServer(ThreadingHTTPServer):
    """Serves one FakeJira on ``host:port``: install keys, every site's REST API, the control plane."""

    daemon_threads = True

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        super().__init__((host, port), _RequestHandler)
        self.fake = FakeJira(UrlScheme.served_at(self.url))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(self, request: Request) -> Response:
        """The answer to one request; a subclass may serve more routes before the simulator's."""
        return control.handle(self.fake, request)


class _RequestHandler(BaseHTTPRequestHandler):
    server: FakeJiraHTTPServer
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        # self.path is the raw request target, still percent-encoded: exactly what the app hashed.
        request = Request(self.command, self.server.url + self.path, dict(self.headers.items()), body)
        response = self.server.respond(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        # Per-request lines go to logging (debug), not to stderr as http.server does by default.
        logger.debug("%s " + format, self.address_string(), *args)


class ThreadedServer:
    """A FakeJiraHTTPServer on a background thread, for tests: loopback, a free port by default."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        server_class: Callable[[str, int], FakeJiraHTTPServer] = FakeJiraHTTPServer,
    ) -> None:
        self._address = (host, port)
        self._server_class = server_class
        self._server: FakeJiraHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> FakeJiraHTTPServer:
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def fake(self) -> FakeJira:
        return self.server.fake

    def start(self) -> str:
        """Bind, start serving on a daemon thread, and return the server's URL."""
        if self._server is not None:
            raise RuntimeError(f"the server is already running at {self._server.url}")
        self._server = self._server_class(*self._address)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_SECONDS,), name="fake-jira-server", daemon=True
        )
        self._thread.start()
        return self._server.url

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
