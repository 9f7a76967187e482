"""The hello page, the whoami API and the issue-created webhook, as a tenant's users and Jira see them."""

from __future__ import annotations

import logging

import pytest
import requests

from jira_app.models import AtlassianHost, WebhookDelivery
from tests.signing import Site, host_token

pytestmark = pytest.mark.django_db

PROJECTS = {
    "values": [{"key": "ACME", "name": "Acme Rockets"}, {"key": "OPS", "name": "Operations"}],
    "total": 2,
}


def project_search_url(site: Site) -> str:
    return f"{site.base_url}/rest/api/3/project/search"


def test_hello_page_shows_the_site_the_user_and_its_projects(jira, installed_site, mocked_requests):
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)

    response = jira.load_page(installed_site)

    page = response.content.decode()
    assert response.status_code == 200
    assert installed_site.base_url in page
    assert "557058:alice" in page
    assert "Acme Rockets" in page
    assert "OPS" in page
    # The call was made as the app, to this tenant's own baseUrl.
    assert mocked_requests.calls[-1].request.headers["Authorization"].startswith("JWT ")


def test_hello_page_renders_and_explains_when_the_site_refuses(jira, installed_site, mocked_requests, caplog):
    mocked_requests.get(project_search_url(installed_site), status=401, json={"errorMessages": ["no"]})

    with caplog.at_level(logging.WARNING, logger="jira_app"):
        response = jira.load_page(installed_site)

    assert response.status_code == 200
    assert "HTTP 401" in response.content.decode()
    assert "REST call failed" in caplog.text
    assert installed_site.secret not in caplog.text


def test_hello_page_renders_when_the_site_is_unreachable(jira, installed_site, mocked_requests):
    mocked_requests.get(project_search_url(installed_site), body=requests.ConnectionError("down"))
    response = jira.load_page(installed_site)
    assert response.status_code == 200
    assert "could not be reached" in response.content.decode()


def test_hello_page_may_be_framed_only_by_its_tenant(jira, installed_site, mocked_requests):
    AtlassianHost.objects.filter(client_key=installed_site.client_key).update(display_url="https://jira.acme.example")
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)

    response = jira.load_page(installed_site)

    assert response["Content-Security-Policy"] == "frame-ancestors https://acme.atlassian.net https://jira.acme.example"
    assert "X-Frame-Options" not in response
    assert "no-store" in response["Cache-Control"]


def test_other_pages_keep_deny_framing(client):
    assert client.get("/jira/atlassian-connect.json")["X-Frame-Options"] == "DENY"


def test_hello_page_loads_all_js_from_the_configured_cdn(jira, installed_site, mocked_requests, settings):
    settings.ATLASSIAN_CONNECT_ALL_JS_URL = "https://cdn.example.test/all.js"
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)
    assert '<script src="https://cdn.example.test/all.js"' in jira.load_page(installed_site).content.decode()


def test_webhook_is_stored_for_its_tenant(jira, installed_site):
    assert jira.webhook(installed_site).status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert delivery.host.client_key == installed_site.client_key
    assert delivery.event == "jira:issue_created"
    assert delivery.payload["issue"]["key"] == "ACME-1"


def test_webhook_retries_are_deduplicated(jira, installed_site):
    assert jira.webhook(installed_site, retry="0").status_code == 204
    assert jira.webhook(installed_site, retry="1").status_code == 204

    delivery = WebhookDelivery.objects.get()
    assert delivery.retry_count == 0
    assert delivery.duplicates == 1


def test_same_identifier_from_two_sites_is_two_deliveries(jira, installed_site):
    other = Site("other")
    jira.installed(other)
    jira.webhook(installed_site)
    jira.webhook(other)
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.parametrize(
    ("identifier", "body"),
    [("x" * 300, None), ("wh\n2", None), ("wh-2", b"{not json"), ("wh-3", b"[]")],
    ids=["long identifier", "control character in identifier", "invalid JSON", "not an object"],
)
def test_bad_webhooks_are_400_and_not_stored(jira, installed_site, identifier, body):
    response = jira.webhook(installed_site, identifier=identifier, body=body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_webhook"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("identifier", [None, ""], ids=["no identifier", "empty identifier"])
def test_webhook_without_identifier_is_stored_each_time_and_logged(jira, installed_site, identifier, caplog):
    with caplog.at_level(logging.WARNING, logger="jira_app.webhooks"):
        assert jira.webhook(installed_site, identifier=identifier).status_code == 204
        assert jira.webhook(installed_site, identifier=identifier).status_code == 204

    deliveries = WebhookDelivery.objects.filter(host__client_key=installed_site.client_key)
    assert [(d.identifier, d.event, d.duplicates) for d in deliveries] == [("", "jira:issue_created", 0)] * 2
    assert caplog.text.count("has no X-Atlassian-Webhook-Identifier") == 2
    # Deliveries with an identifier are still kept once.
    assert jira.webhook(installed_site, identifier="wh-9").status_code == 204
    assert jira.webhook(installed_site, identifier="wh-9").status_code == 204
    assert WebhookDelivery.objects.count() == 3


@pytest.mark.parametrize("retry", ["²", "٣", "-1", "1.0", "1234567", " 1"])
def test_webhook_with_an_odd_retry_header_is_a_400(jira, installed_site, retry):
    response = jira.webhook(installed_site, retry=retry)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_webhook"
    assert not WebhookDelivery.objects.exists()


def test_webhook_retry_count_is_kept(jira, installed_site):
    assert jira.webhook(installed_site, retry="3").status_code == 204
    assert WebhookDelivery.objects.get().retry_count == 3


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_webhook_must_be_json(jira, installed_site, content_type):
    token = host_token(installed_site.client_key, installed_site.secret, "POST", "/jira/webhooks/issue-created")
    response = jira.client.post(
        "/jira/webhooks/issue-created",
        b'{"webhookEvent": "jira:issue_created"}',
        content_type=content_type,
        HTTP_AUTHORIZATION=f"JWT {token}",
        HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER="wh-1",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_webhook"
    assert not WebhookDelivery.objects.exists()


def test_project_list_is_fetched_once_a_minute_per_site(jira, installed_site, mocked_requests):
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)
    other = Site("other")
    jira.installed(other)
    mocked_requests.get(project_search_url(other), json={"values": [{"key": "OTH", "name": "Other"}]})

    jira.load_page(installed_site)
    second = jira.load_page(installed_site)
    other_page = jira.load_page(other)

    assert "Acme Rockets" in second.content.decode()
    assert "OTH" in other_page.content.decode()
    assert "Acme Rockets" not in other_page.content.decode()
    rest_calls = [call.request.url for call in mocked_requests.calls if "/rest/" in call.request.url]
    assert [url.split("/rest")[0] for url in rest_calls] == [
        installed_site.base_url,
        other.base_url,
    ]


def test_a_failed_fetch_is_not_remembered(jira, installed_site, mocked_requests):
    mocked_requests.get(project_search_url(installed_site), status=503)
    assert "HTTP 503" in jira.load_page(installed_site).content.decode()

    mocked_requests.replace("GET", project_search_url(installed_site), json=PROJECTS)
    assert "Acme Rockets" in jira.load_page(installed_site).content.decode()


@pytest.mark.parametrize("answer", [[1, 2], {"values": "nope"}, {"values": [1]}], ids=["list", "string", "ints"])
def test_an_odd_project_list_is_reported_not_a_crash(jira, installed_site, mocked_requests, answer):
    mocked_requests.get(project_search_url(installed_site), json=answer)
    response = jira.load_page(installed_site)
    assert response.status_code == 200
    assert "unexpected shape" in response.content.decode()


@pytest.mark.parametrize(
    "stored", ["http://[::1", "https://acme.atlassian.net:99999", "http://127.0.0.1:19620\\@acme.atlassian.net"]
)
def test_hello_page_explains_a_stored_base_url_it_cannot_request(
    jira, installed_site, mocked_requests, settings, stored
):
    # Stored before install checked URLs this strictly: the page says so instead of failing.
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False
    AtlassianHost.objects.filter(client_key=installed_site.client_key).update(base_url=stored)

    response = jira.load_page(installed_site)

    assert response.status_code == 200
    assert "stored baseUrl cannot be requested" in response.content.decode()
    assert not [call for call in mocked_requests.calls if "/rest/" in call.request.url]


@pytest.mark.parametrize(
    "display_url",
    [
        "https://x.example;report-uri https://evil.example/csp",
        "https://x.example;report-uri/csp",
        "https://x.example frame-ancestors *",
        "https://x.example\r\nSet-Cookie: a=b",
        "javascript:alert(1)",
    ],
)
def test_frame_ancestors_holds_only_origins_rebuilt_from_checked_urls(
    jira, installed_site, mocked_requests, display_url
):
    AtlassianHost.objects.filter(client_key=installed_site.client_key).update(display_url=display_url)
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)

    response = jira.load_page(installed_site)

    assert response["Content-Security-Policy"] == "frame-ancestors https://acme.atlassian.net"


def test_frame_ancestors_is_the_origin_of_a_url_with_a_path_and_port(jira, installed_site, mocked_requests):
    AtlassianHost.objects.filter(client_key=installed_site.client_key).update(
        display_url="https://Jira.Acme.example:8443/jira"
    )
    mocked_requests.get(project_search_url(installed_site), json=PROJECTS)

    response = jira.load_page(installed_site)

    assert response["Content-Security-Policy"] == (
        "frame-ancestors https://acme.atlassian.net https://jira.acme.example:8443"
    )
