from __future__ import annotations

import contextlib
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from fake_jira.exceptions import FakeJiraError
from fake_jira.messages import Response
from fake_jira.simulator import FakeJira
from fake_jira.transports import ConnectTo, DjangoClientTransport, RequestsTransport, ResponsesRouter
from tests.fake_jira.toy_app import app_token, served_over_http


def test_the_router_answers_in_process_requests_to_the_key_service(fake_jira):
    kid = fake_jira.keys.current.kid

    response = requests.get(f"{fake_jira.keys_url}/{kid}", timeout=5)

    assert response.status_code == 200
    assert response.text == fake_jira.keys.current.public_pem
    assert response.headers["Content-Type"] == "application/x-pem-file"


def test_the_router_answers_in_process_requests_to_each_site(fake_jira, installed):
    acme = fake_jira.site("acme")
    globex = fake_jira.add_site("globex")
    globex.install(installed)
    token = app_token(globex.installation(installed).shared_secret, "GET", "/rest/api/3/myself")

    response = requests.get(
        f"{globex.base_url}/rest/api/3/myself", headers={"Authorization": f"JWT {token}"}, timeout=5
    )

    assert response.status_code == 200
    assert (len(acme.api_calls), len(globex.api_calls)) == (0, 1)


def test_anything_else_fails_loudly_and_names_the_simulators_urls(fake_jira, jira_site):
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get("https://example.com/", timeout=5)

    message = str(refused.value)
    assert "not a fake_jira URL" in message
    assert fake_jira.keys_url in message
    assert jira_site.base_url in message


def test_a_similar_looking_host_is_not_a_site(fake_jira, jira_site):
    with pytest.raises(requests.ConnectionError):
        requests.get(jira_site.base_url + ".evil.example/rest/api/3/myself", timeout=5)


def test_loopback_passes_through_the_router(fake_jira, fake_jira_server):
    assert requests.get(f"{fake_jira_server.url}/_fake/sites", timeout=5).status_code == 200


def test_a_router_can_serve_any_simulator_on_its_own():
    fake = FakeJira()

    with ResponsesRouter(fake):
        response = requests.get(f"{fake.keys_url}/{fake.keys.current.kid}", timeout=5)

    assert response.status_code == 200


def test_requests_transport_sends_targets_as_they_are(toy_app):
    with served_over_http(toy_app) as url:
        response = RequestsTransport(url).send("GET", "/toy/atlassian-connect.json", headers={})

    assert response.status == 200
    assert response.json()["key"] == "toy-connect-app"
    assert response.headers["content-type"] == "application/json"


class StubDjangoClient:
    """Stands in for django.test.Client: records the call, answers like its test response."""

    class StubResponse:
        status_code = 201

        def items(self):
            return [("Content-Type", "text/plain"), ("X-Answer", "42")]

        def getvalue(self):
            return b"made"

    def generic(self, method, path, *, data, content_type, headers):
        self.call = (method, path, data, content_type, headers)
        return self.StubResponse()


def test_django_client_transport_passes_the_raw_target_and_headers():
    client = StubDjangoClient()
    headers = {"Authorization": "JWT x", "content-type": "application/json"}

    response = DjangoClientTransport(client).send("POST", "/jira/installed?a=%2F", headers=headers, body=b"{}")

    assert client.call == ("POST", "/jira/installed?a=%2F", b"{}", "application/json", {"Authorization": "JWT x"})
    assert response == Response(201, {"Content-Type": "text/plain", "X-Answer": "42"}, b"made")
    assert response.headers["x-answer"] == "42"


@pytest.fixture
def refusing_server():
    """A server that answers 431 at once and resets the connection while the client still sends, as Node does
    for an oversized header."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")
                # Closing with unread data and no linger sends a reset instead of a FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
    listener.close()
    thread.join(timeout=5)


def test_a_status_survives_a_reset_after_it(refusing_server):
    transport = RequestsTransport(refusing_server)

    response = transport.send("GET", "/", headers={"Authorization": "JWT " + "a" * 100_000})

    assert response.status == 431
    assert response.body == b""


def test_an_app_that_does_not_answer_still_raises():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    with pytest.raises(requests.ConnectionError):
        RequestsTransport(f"http://127.0.0.1:{port}").send("GET", "/", headers={})


@pytest.mark.parametrize(
    ("rule", "url", "address"),
    [
        ("app.example.com:443:127.0.0.1:3000", "https://app.example.com/jira/x", "127.0.0.1:3000"),
        ("app.example.com:443:127.0.0.1:3000", "http://app.example.com/x", None),
        ("app.example.com:443:127.0.0.1:3000", "https://other.example.com/x", None),
        (":8000:127.0.0.1:", "http://localhost:8000/", "127.0.0.1:8000"),
        ("app.test::[::1]:9000", "http://app.test:81/", "[::1]:9000"),
    ],
)
def test_connect_to_applies_as_curls_does(rule, url, address):
    assert ConnectTo.parse(rule).address(url) == address


@pytest.mark.parametrize("text", ["127.0.0.1:3000", "a:b:c:d", "host:80::", ""])
def test_connect_to_must_be_four_parts_with_somewhere_to_go(text):
    with pytest.raises(FakeJiraError, match="is not HOST1:PORT1:HOST2:PORT2"):
        ConnectTo.parse(text)


def test_connect_to_moves_the_connection_and_keeps_the_request():
    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"{self.headers['Host']} {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        rule = ConnectTo.parse(f"app.example.com:80:127.0.0.1:{server.server_address[1]}")
        transport = RequestsTransport("http://app.example.com", connect_to=[rule])

        response = transport.send("GET", "/jira/page?a=1&jwt=x", headers={})
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert response.status == 200
    assert response.text == "app.example.com /jira/page?a=1&jwt=x"
