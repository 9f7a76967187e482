"""Outbound calls to a tenant's site against real loopback sockets: where they may connect, how long they may
take in total, and how much they may read. The tenant runs the server at the other end."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from jira_app.client import AtlassianHostRestClient, HostRequestError
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

DEADLINE = 1.0
PATH = "/rest/api/3/project/search"


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.connections = 0
        self.finished = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(socketserver.BaseRequestHandler):
    server: RawServer

    def handle(self) -> None:
        self.server.connections += 1
        self.request.recv(65536)  # the request: one small GET
        try:
            self.server.answer(self.request)
        except OSError:  # the client hung up: what a deadline does
            pass
        finally:
            self.server.finished.set()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.ATLASSIAN_CONNECT_HOST_REQUEST_TIMEOUT = DEADLINE
    settings.ATLASSIAN_CONNECT_HOST_RESPONSE_MAX_BYTES = 1000
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = True


def client_for(base_url: str) -> AtlassianHostRestClient:
    return AtlassianHostRestClient(AtlassianHostFactory(base_url=base_url))


def trickle(head: bytes, body: bytes, every: float) -> Callable[[socket.socket], None]:
    def answer(sock: socket.socket) -> None:
        sock.sendall(head)
        for byte in body:
            sock.sendall(bytes([byte]))
            time.sleep(every)

    return answer


def test_a_site_that_answers_in_time_is_read(serve):
    body = b'{"values": []}'
    server = serve(lambda sock: sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)))

    assert client_for(f"http://127.0.0.1:{server.port}").get_json(PATH) == {"values": []}


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", b"[" + b" " * 38 + b"]"),
        (b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
    ],
    ids=["body", "headers"],
)
def test_a_site_trickling_its_answer_is_cut_off_at_the_deadline(serve, head, body):
    # Every read gets a byte well within the per-read timeout; only a deadline for the whole call stops this.
    server = serve(trickle(head, body, every=DEADLINE / 4))

    started = time.monotonic()
    with pytest.raises(HostRequestError, match=f"did not answer within {DEADLINE:g} s"):
        client_for(f"http://127.0.0.1:{server.port}").get_json(PATH)
    elapsed = time.monotonic() - started

    # The trickle alone lasts 10 deadlines: the call ended at its deadline, give or take scheduling.
    assert elapsed < 4 * DEADLINE
    assert server.finished.wait(5)  # the server saw the connection close


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"],
    ids=["undeclared", "declared"],
)
def test_an_answer_larger_than_the_cap_is_refused(serve, head):
    server = serve(lambda sock: sock.sendall(head + b"[" + b"0," * 2499 + b"0]"))

    with pytest.raises(HostRequestError, match="larger than 1000 bytes"):
        client_for(f"http://127.0.0.1:{server.port}").get_json(PATH)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.7", "192.168.1.20", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1", "fd00::1"],
)
def test_a_site_name_resolving_to_a_non_public_address_is_never_connected(serve, monkeypatch, settings, address):
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False
    server = serve(lambda sock: sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    resolved = [(family, socket.SOCK_STREAM, 6, "", (address, server.port))]
    # The name passed the install checks; what it resolves to now is the tenant's choice (DNS rebinding).
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: resolved)

    with pytest.raises(HostRequestError, match="not a public address"):
        client_for(f"https://acme.atlassian.net:{server.port}").get_json(PATH)

    assert server.connections == 0


def test_a_name_with_one_public_and_one_private_address_is_refused(serve, monkeypatch, settings):
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False
    resolved = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("104.192.141.1", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: resolved)

    with pytest.raises(HostRequestError, match="not a public address"):
        client_for("https://acme.atlassian.net").get_json(PATH)


def test_loopback_is_refused_where_the_setting_does_not_allow_it(serve, settings):
    server = serve(lambda sock: sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False

    with pytest.raises(HostRequestError, match="cannot be requested"):
        client_for(f"http://127.0.0.1:{server.port}").get_json(PATH)

    assert server.connections == 0


def test_the_request_names_the_site_not_the_address_it_connected_to(serve, monkeypatch):
    seen: list[bytes] = []

    def answer(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    server = serve(answer)
    original = _Handler.handle

    def recording(self: _Handler) -> None:
        seen.append(self.request.recv(65536, socket.MSG_PEEK))
        original(self)

    monkeypatch.setattr(_Handler, "handle", recording)

    client_for(f"http://localhost:{server.port}").get_json(PATH)

    assert f"\r\nHost: localhost:{server.port}\r\n".encode() in seen[0]
