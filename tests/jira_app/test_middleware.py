"""ConnectJwtMiddleware: protect by default, context-token rules, CSRF, refusals and their log lines."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse
from django.test import Client

from jira_app import qsh
from jira_app.middleware import ConnectRoutesMiddleware
from tests.signing import context_token, host_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def default_deny_urls(settings):
    settings.ROOT_URLCONF = "tests.jira_app.urls_default_deny"


def test_a_view_without_any_decorator_requires_a_tenant_jwt(client, default_deny_urls, installed_site):
    assert client.get("/forgotten/").status_code == 401

    token = host_token(installed_site.client_key, installed_site.secret, "GET", "/forgotten")
    response = client.get(f"/forgotten/?jwt={token}")
    assert response.status_code == 200
    assert response.content.decode() == f"secret data for {installed_site.client_key}"


def test_public_views_need_no_token(client, default_deny_urls):
    assert client.get("/health/").status_code == 200
    assert client.get("/jira/atlassian-connect.json").status_code == 200


def test_the_admin_keeps_its_own_authentication(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response


def test_refusal_says_why_with_the_connect_challenge(client):
    response = client.get("/jira/hello.html")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'JWT realm="my-jira-test-app-dev"'
    assert response.json()["error"] == "missing_token"
    assert "Authorization: JWT" in response.json()["message"]


def test_refusal_log_line_has_reason_and_client_key_but_no_token(client, installed_site, caplog):
    token = host_token(installed_site.client_key, "ATCO-wrong-secret-0123456789abcdef0123", query="a=1")
    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        client.get(f"/jira/hello.html?a=1&jwt={token}")

    assert "bad_signature" in caplog.text
    assert installed_site.client_key in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_jwt_authenticated_posts_need_no_csrf_token(jira, installed_site):
    response = jira.webhook(installed_site, client=Client(enforce_csrf_checks=True))
    assert response.status_code == 204


def test_whoami_accepts_a_context_token(client, installed_site):
    token = context_token(installed_site.client_key, installed_site.secret, sub="557058:bob")
    response = client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 200
    assert response.json() == {
        "clientKey": installed_site.client_key,
        "baseUrl": installed_site.base_url,
        "accountId": "557058:bob",
    }


def test_whoami_accepts_a_token_bound_to_exactly_this_request(client, installed_site):
    token = host_token(installed_site.client_key, installed_site.secret, "GET", "/jira/api/whoami")
    assert client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}").status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"path": "/jira/hello.html"},
        {"method": "POST", "path": "/jira/api/whoami"},
        {"path": "/jira/api/whoami", "query": "extra=1"},
        {"qsh_value": ""},
        {"qsh_value": "CONTEXT-QSH"},
    ],
    ids=["other path", "other method", "other query", "empty qsh", "near-miss literal"],
)
def test_whoami_refuses_tokens_bound_elsewhere(client, installed_site, claims):
    token = host_token(installed_site.client_key, installed_site.secret, **claims)
    assert client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}").status_code == 401


def test_whoami_refuses_a_token_without_qsh(client, installed_site):
    token = host_token(installed_site.client_key, installed_site.secret, qsh=None, qsh_value="x")
    assert client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}").status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/jira/hello.html"), ("POST", "/jira/webhooks/issue-created"), ("POST", "/jira/disabled")],
)
def test_context_tokens_are_refused_on_pages_webhooks_and_lifecycle(client, installed_site, method, path):
    token = context_token(installed_site.client_key, installed_site.secret)
    response = client.generic(method, path, b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 401
    assert response.json()["error"] == "context_token_refused"


def test_the_header_token_is_used_before_the_query_token(client, installed_site):
    good = host_token(installed_site.client_key, installed_site.secret, "GET", "/jira/api/whoami", "jwt=junk")
    response = client.get("/jira/api/whoami?jwt=junk", HTTP_AUTHORIZATION=f"JWT {good}")
    assert response.status_code == 200


def test_base_path_of_the_app_is_not_part_of_the_hash(client, settings, installed_site):
    """An app served below a path hashes request paths relative to its baseUrl (official vector 40)."""
    settings.ATLASSIAN_CONNECT_BASE_URL = "https://app.example.test/jira"
    token = host_token(
        installed_site.client_key,
        installed_site.secret,
        qsh_value=qsh.query_string_hash("GET", "/api/whoami"),
    )
    assert client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}").status_code == 200


# --- ConnectRoutesMiddleware: the Connect routes' own chain -------------------------------------------------


def test_connect_routes_take_their_own_chain_and_other_routes_the_admin_chain(rf):
    admin_chain = []

    def rest_of_middleware(request):
        admin_chain.append(request.path)
        return HttpResponse("admin chain")

    router = ConnectRoutesMiddleware(rest_of_middleware)
    assert router.prefix == "/jira/"

    descriptor = router(rf.get("/jira/atlassian-connect.json"))
    assert descriptor.status_code == 200
    assert json.loads(descriptor.content)["key"] == "my-jira-test-app-dev"
    # A route under the prefix that does not exist is still answered by the Connect chain, with a 404.
    assert router(rf.get("/jira/no-such-route")).status_code == 404
    assert router(rf.get("/admin/login/")).content == b"admin chain"
    assert router(rf.get("/jiraish")).content == b"admin chain"
    assert admin_chain == ["/admin/login/", "/jiraish"]


def test_a_connect_route_sets_no_cookie_but_keeps_the_security_headers(client, installed_site):
    token = host_token(installed_site.client_key, installed_site.secret, "GET", "/jira/hello.html")
    page = client.get(f"/jira/hello.html?jwt={token}")
    assert page.status_code == 200
    assert not page.cookies
    assert "Cookie" not in page.get("Vary", "")
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Content-Security-Policy"] == f"frame-ancestors {installed_site.base_url}"
    # The JSON routes keep the DENY of XFrameOptionsMiddleware.
    assert client.get("/jira/atlassian-connect.json")["X-Frame-Options"] == "DENY"


def test_the_connect_chain_still_checks_allowed_hosts(client):
    # CommonMiddleware is in it: a forged Host header is refused there as on the admin's routes.
    assert client.get("/jira/atlassian-connect.json", headers={"host": "evil.example"}).status_code == 400


def test_the_admin_keeps_sessions_and_csrf():
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/admin/login/")
    assert "csrftoken" in login_page.cookies
    refused = client.post("/admin/login/", {"username": "admin", "password": "x"})
    assert refused.status_code == 403  # no CSRF token


def test_the_connect_chain_is_the_configured_one(settings, rf):
    settings.ATLASSIAN_CONNECT_MIDDLEWARE = ["jira_app.middleware.ConnectJwtMiddleware"]
    router = ConnectRoutesMiddleware(lambda request: HttpResponse("admin chain"))
    descriptor = router(rf.get("/jira/atlassian-connect.json"))
    assert descriptor.status_code == 200
    assert "X-Frame-Options" not in descriptor  # XFrameOptionsMiddleware is not in this chain
    assert router(rf.get("/jira/hello.html")).status_code == 401  # ConnectJwtMiddleware is


def test_mounted_at_the_root_every_request_takes_middleware(settings):
    settings.ROOT_URLCONF = "tests.jira_app.urls_at_root"
    with pytest.raises(MiddlewareNotUsed, match=r"^jira_app is mounted at the root: every request takes MIDDLEWARE$"):
        ConnectRoutesMiddleware(lambda request: HttpResponse())
