"""Calls from the app to a tenant's REST API: signed as the app, bound to the exact request, kept on the site."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import jwt
import pytest
import requests
import responses

from jira_app.client import AtlassianHostRestClient, HostRequestError
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

SECRET = "ATCO-client-test-secret-0123456789abcdef"
SITE = "https://acme.atlassian.net"
PROJECTS = SITE + "/rest/api/3/project/search"


@pytest.fixture
def host():
    return AtlassianHostFactory(secret=SECRET, base_url=SITE)


def sent_claims(call) -> dict:
    scheme, token = call.request.headers["Authorization"].split(" ", 1)
    assert scheme == "JWT"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    return jwt.decode(token, SECRET, algorithms=["HS256"])


def qsh_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_get_json_returns_the_answer_and_signs_the_request_as_the_app(host, mocked_requests):
    mocked_requests.get(PROJECTS, json={"values": [{"key": "ACME"}]})

    result = AtlassianHostRestClient(host).get_json("/rest/api/3/project/search", params={"maxResults": 5})

    assert result == {"values": [{"key": "ACME"}]}
    (call,) = mocked_requests.calls
    assert call.request.url == PROJECTS + "?maxResults=5"
    claims = sent_claims(call)
    assert claims["iss"] == "my-jira-test-app-dev"
    assert claims["exp"] - claims["iat"] == 180
    assert claims["qsh"] == qsh_of("GET&/rest/api/3/project/search&maxResults=5")


def test_asks_for_json(host, mocked_requests):
    mocked_requests.get(PROJECTS, json={})

    AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert mocked_requests.calls[0].request.headers["Accept"] == "application/json"


def test_token_is_refused_with_another_secret(host, mocked_requests):
    mocked_requests.get(PROJECTS, json={})
    AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    token = mocked_requests.calls[0].request.headers["Authorization"].removeprefix("JWT ")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "ATCO-another-secret-0123456789abcdef", algorithms=["HS256"])


def test_token_follows_the_app_key(host, mocked_requests, settings):
    settings.ENVIRONMENT = "prod"
    mocked_requests.get(PROJECTS, json={})

    AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert sent_claims(mocked_requests.calls[0])["iss"] == "my-jira-test-app-prod"


def test_qsh_covers_a_query_as_jira_canonicalises_it(host, mocked_requests):
    search = SITE + "/rest/api/3/search/jql"
    mocked_requests.get(search, json={"issues": []})

    AtlassianHostRestClient(host).get_json(
        "/rest/api/3/search/jql", params={"jql": "project = ABC", "maxResults": 5, "fields": ["summary", "status"]}
    )

    # Names sorted, spaces as %20 (requests sent '+'), a repeated name once with its values sorted and
    # joined by ',' (Atlassian's HttpRequestCanonicalizer).
    (call,) = mocked_requests.calls
    assert "jql=project+%3D+ABC" in call.request.url
    assert sent_claims(call)["qsh"] == qsh_of(
        "GET&/rest/api/3/search/jql&fields=status,summary&jql=project%20%3D%20ABC&maxResults=5"
    )


def test_each_request_gets_a_token_for_its_own_url(host, mocked_requests):
    mocked_requests.get(PROJECTS, json={})
    mocked_requests.get(SITE + "/rest/api/3/myself", json={})
    client = AtlassianHostRestClient(host)

    client.get_json("/rest/api/3/project/search")
    client.get_json("/rest/api/3/myself")

    first, second = (sent_claims(call)["qsh"] for call in mocked_requests.calls)
    assert first == qsh_of("GET&/rest/api/3/project/search&")
    assert second == qsh_of("GET&/rest/api/3/myself&")


def test_a_site_with_a_context_path_is_addressed_below_it(mocked_requests):
    host = AtlassianHostFactory(secret=SECRET, base_url="https://acme.atlassian.net/wiki")
    mocked_requests.get("https://acme.atlassian.net/wiki/rest/api/content", json={"results": []})

    AtlassianHostRestClient(host).get_json("/rest/api/content", params={"limit": 1})

    (call,) = mocked_requests.calls
    assert call.request.url == "https://acme.atlassian.net/wiki/rest/api/content?limit=1"
    assert sent_claims(call)["qsh"] == qsh_of("GET&/rest/api/content&limit=1")


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/steal",
        "http://acme.atlassian.net/rest/api/3/myself",
        "//evil.example/steal",
        "rest/api/3/myself",
        "",
    ],
)
def test_only_paths_on_the_site_are_accepted(host, mocked_requests, path):
    with pytest.raises(ValueError, match="path"):
        AtlassianHostRestClient(host).get_json(path)
    assert len(mocked_requests.calls) == 0


def assert_safe_message(exc: HostRequestError, *expected: str) -> None:
    message = str(exc)
    for part in expected:
        assert part in message
    assert SECRET not in message
    assert "JWT" not in message


def test_timeout_is_reported(host, mocked_requests):
    mocked_requests.get(PROJECTS, body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(HostRequestError) as excinfo:
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert_safe_message(excinfo.value, SITE, "did not answer within 5 s")


def test_timeout_follows_the_setting(host, mocked_requests, settings):
    settings.ATLASSIAN_CONNECT_HOST_REQUEST_TIMEOUT = 2.5
    mocked_requests.get(PROJECTS, body=requests.exceptions.ConnectTimeout())

    with pytest.raises(HostRequestError, match=r"within 2\.5 s"):
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")


def test_connection_error_is_reported(host, mocked_requests):
    mocked_requests.get(PROJECTS, body=requests.exceptions.ConnectionError("refused"))

    with pytest.raises(HostRequestError) as excinfo:
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert_safe_message(excinfo.value, SITE, "could not be reached", "ConnectionError")


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_non_200_answers_are_reported(host, mocked_requests, status):
    mocked_requests.get(PROJECTS, json={"errorMessages": ["nope"]}, status=status)

    with pytest.raises(HostRequestError) as excinfo:
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert_safe_message(excinfo.value, "GET /rest/api/3/project/search", f"HTTP {status}")


def test_non_json_answer_is_reported(host, mocked_requests):
    mocked_requests.get(PROJECTS, body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(HostRequestError) as excinfo:
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert_safe_message(excinfo.value, "GET /rest/api/3/project/search", "did not answer with JSON")


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"values": NaN}', '{"values": "\\ud800"}', '{"values": "\\u0000"}'],
    ids=["nested", "nan", "lone-surrogate", "nul"],
)
def test_a_hostile_json_answer_is_reported_not_raised(host, mocked_requests, body):
    # The tenant runs the server at the other end: its answer gets the bounds of every JSON the app reads.
    mocked_requests.get(PROJECTS, body=body, content_type="application/json")

    with pytest.raises(HostRequestError) as excinfo:
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert_safe_message(excinfo.value, "GET /rest/api/3/project/search", "did not answer with JSON")


def test_redirects_are_not_followed(host, mocked_requests):
    mocked_requests.get(PROJECTS, status=302, headers={"Location": "https://evil.example/collect"})
    mocked_requests.get("https://evil.example/collect", json={"stolen": True})

    with pytest.raises(HostRequestError, match="HTTP 302"):
        AtlassianHostRestClient(host).get_json("/rest/api/3/project/search")

    assert [urlsplit(call.request.url).hostname for call in mocked_requests.calls] == ["acme.atlassian.net"]


def test_a_given_session_is_used(host):
    session = requests.Session()
    session.headers["User-Agent"] = "jira-connect-django-test"
    with responses.RequestsMock() as mock:
        mock.get(PROJECTS, json={})
        AtlassianHostRestClient(host, session=session).get_json("/rest/api/3/project/search")
        assert mock.calls[0].request.headers["User-Agent"] == "jira-connect-django-test"
