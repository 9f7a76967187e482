"""The app descriptor Jira fetches on install: served without a token, its URLs pointing at the app's views."""

from __future__ import annotations

import re

import pytest
from django.urls import resolve, reverse, set_script_prefix

from tests.signing import APP_BASE_URL

DESCRIPTOR_PATH = "/jira/atlassian-connect.json"


@pytest.fixture
def mounted_under_prefix():
    """Django served under /prefix (WSGI SCRIPT_NAME), as WSGIHandler sets it; the test client does not."""
    set_script_prefix("/prefix/")
    yield
    set_script_prefix("/")


def fetch(client) -> dict:
    response = client.get(DESCRIPTOR_PATH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def view_name(relative_url: str) -> str:
    assert relative_url.startswith("/")
    assert not relative_url.startswith("//")
    match = resolve(relative_url.split("?", 1)[0])
    assert match.namespace == "jira_app"
    return match.url_name


def test_descriptor_is_public_json(client):
    descriptor = fetch(client)  # no Authorization header, no jwt parameter
    assert descriptor["authentication"] == {"type": "jwt"}


def test_base_url_and_self_link(client):
    descriptor = fetch(client)
    assert descriptor["baseUrl"] == APP_BASE_URL == "https://app.example.test"
    assert descriptor["links"]["self"] == APP_BASE_URL + DESCRIPTOR_PATH


def test_trailing_slash_of_the_base_url_is_dropped(client, settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = "https://app.example.test/"
    descriptor = fetch(client)
    assert descriptor["baseUrl"] == "https://app.example.test"
    assert descriptor["links"]["self"] == "https://app.example.test/jira/atlassian-connect.json"


@pytest.mark.parametrize(
    ("environment", "key", "name"),
    [
        ("dev", "my-jira-test-app-dev", "my jira test dev"),
        ("test", "my-jira-test-app-test", "my jira test test"),
        ("prod", "my-jira-test-app-prod", "my jira test"),
    ],
)
def test_key_and_name_follow_the_environment(client, settings, environment, key, name):
    settings.ENVIRONMENT = environment
    descriptor = fetch(client)
    assert descriptor["key"] == key
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", descriptor["key"])
    assert descriptor["name"] == name


def test_unset_environment_means_dev_never_none(client, settings):
    del settings.ENVIRONMENT
    descriptor = fetch(client)
    assert descriptor["key"] == "my-jira-test-app-dev"
    assert descriptor["name"] == "my jira test dev"
    assert "None" not in str(descriptor)


def test_api_migrations_opt_into_signed_installs_and_context_qsh(client):
    migrations = fetch(client)["apiMigrations"]
    assert migrations["signed-install"] is True
    assert migrations["context-qsh"] is True


def test_lifecycle_urls_resolve_to_the_lifecycle_views(client):
    lifecycle = fetch(client)["lifecycle"]
    assert {event: view_name(url) for event, url in lifecycle.items()} == {
        "installed": "installed",
        "uninstalled": "uninstalled",
        "enabled": "enabled",
        "disabled": "disabled",
    }


def test_scopes_are_upper_case(client):
    scopes = fetch(client)["scopes"]
    assert scopes
    assert all(scope == scope.upper() for scope in scopes)


def test_general_page_hello(client):
    pages = {page["key"]: page for page in fetch(client)["modules"]["generalPages"]}
    assert pages["hello"]["url"] == "/jira/hello.html"
    assert view_name(pages["hello"]["url"]) == "hello"


def test_issue_created_webhook_points_at_its_view(client):
    webhooks = fetch(client)["modules"]["webhooks"]
    urls = [hook["url"] for hook in webhooks if hook["event"] == "jira:issue_created"]
    assert len(urls) == 1
    assert view_name(urls[0]) == "webhook-issue-created"


def all_module_urls(descriptor: dict) -> list[str]:
    urls = list(descriptor["lifecycle"].values())
    for modules in descriptor["modules"].values():
        urls += [module["url"] for module in modules]
    return urls


def test_urls_stay_relative_when_the_base_url_has_a_path(client, settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = "https://host.example/prefix"

    descriptor = fetch(client)

    assert descriptor["baseUrl"] == "https://host.example/prefix"
    assert descriptor["links"]["self"] == "https://host.example/prefix/jira/atlassian-connect.json"
    assert descriptor["lifecycle"]["installed"] == reverse("jira_app:installed") == "/jira/installed"
    assert descriptor["modules"]["generalPages"][0]["url"] == reverse("jira_app:hello")
    for url in all_module_urls(descriptor):
        assert not url.startswith("/prefix")
        view_name(url)


def test_urls_are_relative_to_the_base_url_when_django_is_mounted_under_its_path(
    client, settings, mounted_under_prefix
):
    # Mounted at /prefix, Django reverses /prefix/jira/...; the descriptor's URLs are relative to baseUrl.
    settings.ATLASSIAN_CONNECT_BASE_URL = "https://host.example/prefix"
    assert reverse("jira_app:installed") == "/prefix/jira/installed"

    descriptor = fetch(client)

    assert descriptor["links"]["self"] == "https://host.example/prefix/jira/atlassian-connect.json"
    assert descriptor["lifecycle"] == {
        "installed": "/jira/installed",
        "uninstalled": "/jira/uninstalled",
        "enabled": "/jira/enabled",
        "disabled": "/jira/disabled",
    }
    assert descriptor["modules"]["generalPages"][0]["url"] == "/jira/hello.html"
    assert descriptor["modules"]["webhooks"][0]["url"] == "/jira/webhooks/issue-created"
