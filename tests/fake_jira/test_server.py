from __future__ import annotations

import pytest
import requests

from fake_jira.server import ThreadedServer
from fake_jira.transports import RequestsTransport
from tests.fake_jira.toy_app import DESCRIPTOR_PATH, ToyApp, served_over_http


@pytest.fixture
def server(fake_jira_server):
    """The session's server, its simulator emptied for this test."""
    fake_jira_server.fake.reset()
    return fake_jira_server


def test_the_server_listens_on_loopback_and_reports_its_url():
    with ThreadedServer() as server:
        url = server.url
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        assert requests.get(f"{url}/_fake/sites", timeout=5).json() == []

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_fake/sites", timeout=5)


def test_the_servers_urls_are_path_prefixed(server):
    site = server.fake.add_site("acme")

    assert site.base_url == f"{server.url}/sites/acme"
    assert server.fake.keys_url == f"{server.url}/install-keys"


def test_the_key_service_over_http(server):
    key = server.fake.keys.current

    served = requests.get(f"{server.fake.keys_url}/{key.kid}", timeout=5)
    unknown = requests.get(f"{server.fake.keys_url}/fake-jira/unknown/99", timeout=5)

    assert (served.status_code, served.text) == (200, key.public_pem)
    assert unknown.status_code == 404


@pytest.mark.parametrize("transport", ["in-process app", "app over HTTP"])
def test_one_scenario_runs_against_the_server(server, transport):
    """The app reaches the simulator over loopback HTTP; Jira reaches the app directly or over HTTP too."""
    toy = ToyApp(keys_url=server.fake.keys_url)
    site = server.fake.add_site("acme")
    site.add_project("ACME", "Acme")

    with served_over_http(toy) as app_url:
        app = server.fake.connect_app(
            toy if transport == "in-process app" else RequestsTransport(app_url), DESCRIPTOR_PATH
        )
        installed = site.install(app)
        page = site.load_page(app, "hello")

    assert installed.status == 204, installed.text
    assert page.json() == {"projects": ["ACME"]}
    assert [call.request for call in site.api_calls] == ["GET /sites/acme/rest/api/3/project/search?maxResults=20"]


def test_the_control_plane(server):
    control = f"{server.url}/_fake"

    created = requests.post(f"{control}/sites", json={"name": "globex", "licensed": True}, timeout=5)
    listed = requests.get(f"{control}/sites", timeout=5)
    one = requests.get(f"{control}/sites/globex", timeout=5)

    assert created.status_code == 201
    assert created.json()["baseUrl"] == f"{server.url}/sites/globex"
    assert listed.json() == [created.json()] == [one.json()]
    assert set(one.json()) == {"name", "baseUrl", "clientKey", "displayUrl", "installations"}

    assert requests.post(f"{control}/reset", timeout=5).status_code == 204
    assert requests.get(f"{control}/sites", timeout=5).json() == []


def test_the_control_plane_shows_the_event_log(server):
    toy = ToyApp(keys_url=server.fake.keys_url)
    site = server.fake.add_site("acme")
    site.install(server.fake.connect_app(toy, DESCRIPTOR_PATH))

    events = requests.get(f"{server.url}/_fake/events", timeout=5).json()

    assert [event["action"] for event in events] == ["descriptor", "install key", "installed"]
    assert events[-1]["line"] == "[jira→app] acme: installed: POST /toy/installed -> 204"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/_fake/sites", b"not json", 400),
        ("POST", "/_fake/sites", b'{"name": "Not A Label"}', 400),
        ("GET", "/_fake/sites/nope", b"", 404),
        ("DELETE", "/_fake/sites", b"", 405),
        ("GET", "/_fake/nothing", b"", 404),
        ("GET", "/elsewhere", b"", 404),
    ],
)
def test_bad_requests_get_jira_shaped_errors(server, method, path, body, status):
    response = requests.request(method, server.url + path, data=body, timeout=5)

    assert response.status_code == status
    assert response.json()["errorMessages"]
