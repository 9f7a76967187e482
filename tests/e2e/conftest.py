"""The app as Jira meets it, two ways: in this process through Django's test client, and over real HTTP
against pytest-django's ``live_server``. Either way fake_jira (in process, its ``responses`` router) answers
the app's outbound calls to the install-key service and to each site's REST API; loopback passes through.

A test that takes ``app`` runs once per transport. Tests mark themselves ``django_db(transaction=True)``:
the live server reads the database from another thread, so the test's writes must be committed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from django.core.servers.basehttp import WSGIRequestHandler
from django.test import Client

from fake_jira.descriptor import ConnectApp
from fake_jira.server import free_port
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.transports import AppTransport, DjangoClientTransport, RequestsTransport
from jira_app import forge

DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
# The Forge app ARI the check's and the demo's Forge cases give the app (ATLASSIAN_FORGE_APP_ID).
FORGE_APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"
# The test client's default host: in process, the app's baseUrl is only the aud installs are signed for.
TEST_CLIENT_BASE_URL = "http://testserver"


@pytest.fixture(params=["in_process", "live_server"])
def transport(request, settings, monkeypatch, fake_jira: FakeJira) -> Iterator[AppTransport]:
    """How Jira reaches the app; the app is pointed at fake_jira's key service and at its own address."""
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake_jira.keys_url
    if request.param == "in_process":
        settings.ATLASSIAN_CONNECT_BASE_URL = TEST_CLIENT_BASE_URL
        yield DjangoClientTransport(Client())
        return
    settings.ATLASSIAN_CONNECT_BASE_URL = request.getfixturevalue("live_server").url
    # The live server (wsgiref) writes headers and body apart: with Nagle's algorithm on, each response then
    # waits 40 ms for the client's delayed ACK.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
    # Closed with the test: a kept-alive connection would hold a server thread, and with it the database
    # connection the live server shares, past the end of the test database.
    with requests.Session() as session:
        yield RequestsTransport(settings.ATLASSIAN_CONNECT_BASE_URL, session=session)


@pytest.fixture
def app(fake_jira: FakeJira, transport: AppTransport) -> ConnectApp:
    """The app as Jira knows it: its descriptor fetched through the transport and checked."""
    return fake_jira.connect_app(transport, DESCRIPTOR_PATH)


def installed_site(fake: FakeJira, app: ConnectApp, name: str, *projects: str) -> JiraSite:
    """A new site with these project keys, the app installed on it."""
    site = fake.add_site(name)
    for key in projects:
        site.add_project(key, f"{key.title()} project")
    response = site.install(app)
    assert response.status == 204, response.text
    return site


# --- The conformance check against this app over HTTP (test_conformance, test_check_setup) ------------------


@pytest.fixture
def no_nagle(monkeypatch):
    # The live server (wsgiref) writes headers and body separately; with Nagle on, each response then waits
    # for the client's delayed ACK, 40 ms a request: 17 s a check instead of 1.5 s.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)


@pytest.fixture
def keys_port() -> int:
    """Where the check serves install keys: chosen first, because the app must be configured with it."""
    return free_port()


@pytest.fixture
def descriptor_url(live_server, settings, keys_port, no_nagle) -> Iterator[str]:
    """The app in the live server, configured with the check's install-key service and, for the Forge cases
    (``--forge-app-id``), its JWKS and FORGE_APP_ID."""
    settings.ATLASSIAN_CONNECT_BASE_URL = live_server.url
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = f"http://127.0.0.1:{keys_port}/install-keys"
    settings.ATLASSIAN_FORGE_APP_ID = FORGE_APP_ID
    settings.ATLASSIAN_FORGE_JWKS_URL = f"http://127.0.0.1:{keys_port}/forge/.well-known/jwks.json"
    # Each check serves keys of its own: none the app cached from an earlier test may stand in.
    forge.forget_keys()
    yield f"{live_server.url}/jira/atlassian-connect.json"
    forge.forget_keys()
