"""The site's front page: a guide to the app in development, one line in production, open to anyone."""

from __future__ import annotations

import pytest

from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db


def test_the_dev_index_says_what_the_app_is_and_how_to_install_it(client, settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = "https://connect.example.test"
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = "http://127.0.0.1:8002/install-keys"

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    descriptor_url = "https://connect.example.test/jira/atlassian-connect.json"
    assert f'<a id="descriptor-url" href="{descriptor_url}">' in page
    assert '<code id="install-keys-url">http://127.0.0.1:8002/install-keys</code>' in page
    assert 'href="/admin/"' in page
    assert f"python -m fake_jira install {descriptor_url} --server http://127.0.0.1:8002" in page
    assert f"python -m fake_jira page {descriptor_url}" in page
    assert "Upload app" in page


def test_the_dev_index_counts_installed_sites(client):
    AtlassianHostFactory()
    AtlassianHostFactory(installed=False)

    page = client.get("/").content.decode()

    assert '<span id="installed-sites">1</span>' in page


def test_production_says_only_what_the_app_is(client, settings):
    settings.IS_PROD = True

    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().count("\n") == 1
    assert b"descriptor" not in response.content
    assert b"admin" not in response.content


def test_the_index_needs_no_token_and_accepts_only_get(client):
    assert client.get("/").status_code == 200
    assert client.post("/").status_code == 405
