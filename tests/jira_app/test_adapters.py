"""Outbound calls to a tenant's site against real loopback sockets: where they may connect, how long they may
take in total, and how much they may read. The tenant runs the server at the other end."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jira_app.adapters import Deadline, ForbiddenAddress, SiteAdapter, _is_public, deadline
from jira_app.client import AtlassianHostRestClient, HostRequestError
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

DEADLINE = 1.0
PATH = "/rest/api/3/project/search"


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[socket.socket], None], *, read_request: bool = True) -> None:
        self.answer = answer
        self.read_request = read_request
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
        if self.server.read_request:
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

    def start(answer: Callable[[socket.socket], None], *, read_request: bool = True) -> RawServer:
        server = RawServer(answer, read_request=read_request)
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


# --- Where SiteAdapter connects, checked without connecting -------------------------------------------------


@pytest.fixture
def resolver(monkeypatch) -> list[tuple[str, int]]:
    """getaddrinfo answering 104.192.141.1 (public) for any name, recording what it was asked."""
    asked: list[tuple[str, int]] = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append((host, port))
        address = host if ":" in host else "104.192.141.1"
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def pool_key(url: str, *, verify: bool = True, cert: tuple[str, str] | None = None):
    request = requests.Request("GET", url).prepare()
    host_params, pool_kwargs = SiteAdapter().build_connection_pool_key_attributes(request, verify, cert)
    return request, host_params, pool_kwargs


def test_an_https_site_is_connected_at_the_checked_address_and_its_certificate_checked_for_its_name(resolver):
    request, host_params, pool_kwargs = pool_key("https://acme.atlassian.net/rest/api/3/myself")

    assert resolver == [("acme.atlassian.net", 443)]
    assert host_params == {"scheme": "https", "host": "104.192.141.1", "port": None}
    assert pool_kwargs["server_hostname"] == pool_kwargs["assert_hostname"] == "acme.atlassian.net"
    assert pool_kwargs["cert_reqs"] == "CERT_REQUIRED"
    assert request.headers["Host"] == "acme.atlassian.net"


def test_a_port_in_the_site_url_is_resolved_and_named_with_the_host(resolver):
    request, host_params, _ = pool_key("https://acme.atlassian.net:8443/rest")

    assert resolver == [("acme.atlassian.net", 8443)]
    assert host_params["port"] == 8443
    assert request.headers["Host"] == "acme.atlassian.net:8443"


def test_an_http_site_is_resolved_for_port_80_and_gets_no_tls_settings(resolver):
    request, host_params, pool_kwargs = pool_key("http://acme.atlassian.net/rest")

    assert resolver == [("acme.atlassian.net", 80)]
    assert host_params == {"scheme": "http", "host": "104.192.141.1", "port": None}
    assert "server_hostname" not in pool_kwargs
    assert "assert_hostname" not in pool_kwargs
    assert request.headers["Host"] == "acme.atlassian.net"


def test_an_ipv6_host_is_named_in_brackets(resolver):
    request, host_params, _ = pool_key("https://[2606:4700::1111]/rest")

    assert host_params["host"] == "2606:4700::1111"
    assert request.headers["Host"] == "[2606:4700::1111]"


def test_the_callers_tls_options_are_kept(resolver):
    _, _, unverified = pool_key("https://acme.atlassian.net/rest", verify=False)
    _, _, with_client_cert = pool_key("https://acme.atlassian.net/rest", cert=("client.pem", "client.key"))

    assert unverified["cert_reqs"] == "CERT_NONE"
    assert (with_client_cert["cert_file"], with_client_cert["key_file"]) == ("client.pem", "client.key")


def resolving_to(monkeypatch, *addresses: str) -> None:
    found = [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443))
        for address in addresses
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: found)


@pytest.mark.parametrize("addresses", [("224.0.1.1",), ("ff0e::1",), ("127.0.0.1",), ()])
def test_a_multicast_loopback_or_missing_address_is_refused_saying_why(monkeypatch, addresses):
    resolving_to(monkeypatch, *addresses)

    with pytest.raises(ForbiddenAddress, match=r"^the host resolves to an address that is not public$"):
        pool_key("https://acme.atlassian.net/rest")


def test_of_several_public_addresses_the_resolvers_first_is_connected(monkeypatch):
    resolving_to(monkeypatch, "104.192.141.1", "185.166.143.1")

    _, host_params, _ = pool_key("https://acme.atlassian.net/rest")

    assert host_params["host"] == "104.192.141.1"


def test_a_name_that_does_not_resolve_is_a_connection_error_naming_the_failure(monkeypatch):
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    with pytest.raises(requests.ConnectionError, match=r"^the host name did not resolve \(gaierror\)$"):
        pool_key("https://acme.atlassian.net/rest")


def test_a_scoped_ipv6_address_is_judged_by_its_address():
    assert _is_public("2606:4700::1111%1")
    assert not _is_public("fe80::1%eth0")


def test_a_socket_joining_an_expired_deadline_is_shut_at_once():
    budget = Deadline(0.01)
    budget.start()
    time.sleep(0.1)
    mine, peer = socket.socketpair()
    closed, closed_peer = socket.socketpair()
    closed.close()
    with mine, peer, closed_peer:
        budget.watch(mine)
        budget.watch(closed)  # already closed: nothing to interrupt, and no error either

        assert budget.expired
        assert peer.recv(1) == b""  # shut down: the peer reads the end of the stream


def test_a_site_that_hangs_up_is_called_once_not_retried(serve):
    server = serve(lambda sock: None)  # reads the request, answers nothing, closes

    with pytest.raises(HostRequestError, match="could not be reached"):
        client_for(f"http://127.0.0.1:{server.port}").get_json(PATH)

    assert server.finished.wait(5)
    assert server.connections == 1


def test_the_deadline_timer_never_keeps_a_stopping_worker_alive():
    # A daemon thread: a worker that exits (gunicorn's max_requests, a reload) does not wait for the deadline.
    with deadline(60):
        timers = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]
        assert timers
        assert all(timer.daemon for timer in timers)


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "site.pem", tmp_path / "site.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_an_https_site_trickling_its_answer_is_cut_off_at_the_deadline(serve, tls_files):
    cert_path, key_path = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    answer = trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", b"[" + b" " * 38 + b"]", every=DEADLINE / 4)

    def tls_trickle(sock: socket.socket) -> None:
        with context.wrap_socket(sock, server_side=True) as tls:
            answer(tls)

    server = serve(tls_trickle, read_request=False)
    session = requests.Session()
    session.mount("https://", SiteAdapter(allow_loopback=True))

    started = time.monotonic()
    with deadline(DEADLINE) as budget, pytest.raises(requests.RequestException):
        session.get(f"https://127.0.0.1:{server.port}{PATH}", verify=str(cert_path), timeout=DEADLINE)
    elapsed = time.monotonic() - started

    assert budget.expired
    assert elapsed < 4 * DEADLINE  # the trickle alone lasts 10 deadlines
