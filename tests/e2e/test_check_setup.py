"""`fake_jira check` explains the user's own set-up mistakes before it judges the app: one line naming the fix,
exit status 2, no case run. And it reaches the app where Jira would, at the descriptor's baseUrl.
"""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fake_jira.__main__ import main
from fake_jira.conformance import run_conformance
from fake_jira.conformance.runner import normalise_path
from fake_jira.exceptions import FakeJiraError
from fake_jira.server import free_port
from fake_jira.transports import ConnectTo
from jira_app.models import AtlassianHost

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT_PATH = "/jira/api/whoami"


def check(capsys, descriptor_url: str, keys_port: int, *options: str) -> tuple[int, list[str], str]:
    status = main(["check", descriptor_url, "--keys-port", str(keys_port), *options])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.fixture
def other_app():
    """Another Connect app's server: its descriptor, whatever the path."""
    descriptor = json.dumps({"key": "someone-else", "baseUrl": "http://127.0.0.1:9/else"}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(descriptor)))
            self.end_headers()
            self.wfile.write(descriptor)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_app_that_does_not_answer(capsys):
    url = f"http://127.0.0.1:{free_port()}/jira/atlassian-connect.json"

    status, out, err = check(capsys, url, free_port())

    assert status == 2
    assert err == (
        f"check: nothing answers at {url} (ConnectionError): start the app first, and pass the URL it serves "
        "its descriptor at\n"
    )
    assert not any(line.startswith(("✓", "✗")) for line in out)


def test_a_url_that_serves_no_descriptor(capsys, live_server, no_nagle):
    url = f"{live_server.url}/jira/no-such-descriptor.json"

    status, _, err = check(capsys, url, free_port())

    assert status == 2
    assert err == (
        f"check: {url} serves no descriptor (GET /jira/no-such-descriptor.json answered HTTP 404, not 200): "
        "pass the URL of the app's atlassian-connect.json\n"
    )


def test_a_base_url_that_answers_nothing(capsys, descriptor_url, keys_port, settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = base_url = f"http://127.0.0.1:{free_port()}"

    status, _, err = check(capsys, descriptor_url, keys_port)

    assert status == 2
    assert err.startswith(f"check: the descriptor's baseUrl {base_url} answers nothing (ConnectionError), ")
    assert err.endswith("pass --connect-to HOST:PORT:HOST2:PORT2 to reach it elsewhere\n")
    assert err.count("\n") == 1
    assert not AtlassianHost.objects.exists()


def test_a_base_url_that_serves_another_app(capsys, descriptor_url, keys_port, settings, other_app):
    settings.ATLASSIAN_CONNECT_BASE_URL = other_app

    status, _, err = check(capsys, descriptor_url, keys_port)

    assert status == 2
    assert err.startswith(
        f"check: the descriptor's baseUrl {other_app} serves another descriptor (key 'someone-else', baseUrl "
        "'http://127.0.0.1:9/else'), and Jira sends every request there: set the app's baseUrl"
    )


def test_an_app_that_never_fetches_its_key_from_the_check(capsys, descriptor_url, keys_port, settings):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = f"http://127.0.0.1:{free_port()}/install-keys"
    keys_url = f"http://127.0.0.1:{keys_port}/install-keys"

    status, out, err = check(capsys, descriptor_url, keys_port)

    assert status == 2
    assert err == (
        f"check: the app did not fetch its key from {keys_url}: "
        f"start it with ATLASSIAN_CONNECT_INSTALL_KEYS_URL={keys_url} "
        "(atlassian-connect-express reads CONNECT_KEYS_CDN_URL)\n"
    )
    assert out[:2] == [f"install-key service: {keys_url}", "✓ descriptor: served, and Jira would install it (200)"]
    assert len(out) == 2


def test_requests_go_to_the_base_url_and_connect_to_moves_only_the_connection(
    descriptor_url, keys_port, settings, live_server
):
    # A public baseUrl nothing resolves, as behind a tunnel; the app itself listens on the live server.
    settings.ATLASSIAN_CONNECT_BASE_URL = "http://jira-app.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "jira-app.test"]
    port = live_server.url.rsplit(":", 1)[1]
    out = io.StringIO()

    report = run_conformance(
        descriptor_url,
        keys_port=keys_port,
        context_path=CONTEXT_PATH,
        strict=True,
        connect_to=[ConnectTo.parse(f"jira-app.test:80:127.0.0.1:{port}")],
        out=out,
    )

    lines = out.getvalue().splitlines()
    assert report.failed == 0, "\n".join(line for line in lines if not line.startswith("✓"))
    remark = f"connect-to: jira-app.test:80:127.0.0.1:{port} (connections moved, requests unchanged)"
    assert lines[1] == remark
    assert lines[-4] == remark
    # Installed for the public baseUrl: the app verified aud and qsh against it.
    assert set(AtlassianHost.objects.values_list("installed", flat=True)) == {False}


@pytest.mark.parametrize("given", ["jira/api/whoami", "/jira/api/whoami"])
def test_a_context_path_without_a_leading_slash_is_normalised(given):
    assert normalise_path("--context-path", given) == "/jira/api/whoami"


@pytest.mark.parametrize("given", ["http://127.0.0.1:8000/jira/api/whoami", "//host/api", "api whoami", "/api#x"])
def test_a_context_path_that_is_not_a_path_is_refused(given):
    with pytest.raises(FakeJiraError, match=re.escape(f"--context-path {given!r} is ")):
        normalise_path("--context-path", given)


def test_the_context_path_is_checked_before_anything_starts(capsys):
    status, out, err = check(capsys, "http://127.0.0.1:9/d.json", 0, "--context-path", "http://x/api")

    assert (status, out) == (2, [])
    assert err.startswith("check: --context-path 'http://x/api' is a URL: pass the endpoint's path relative")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--forge-app-id", "my-app"], "check: --forge-app-id 'my-app' is not a Forge app ARI: pass the app's "),
        (
            ["--forge-app-id", "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05", "--forge-endpoint-path",
             "http://x/api"],
            "check: --forge-endpoint-path 'http://x/api' is a URL: pass the endpoint's path relative",
        ),
    ],
)  # fmt: skip
def test_the_forge_options_are_checked_before_anything_starts(capsys, options, message):
    status, out, err = check(capsys, "http://127.0.0.1:9/d.json", 0, *options)

    assert (status, out) == (2, [])
    assert err.startswith(message)


def test_a_malformed_connect_to_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "http://127.0.0.1:9/d.json", "--connect-to", "127.0.0.1:3000"])

    assert exited.value.code == 2
    assert "--connect-to '127.0.0.1:3000' is not HOST1:PORT1:HOST2:PORT2" in capsys.readouterr().err
