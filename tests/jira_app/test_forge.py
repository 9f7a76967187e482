"""jira_app.forge and its views at the edges: the JWKS fetch (only the configured URL, bounded, never a 5xx),
jti bookkeeping, trigger bodies, the Connect install's installationId, and the per-request Forge client."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
import requests
import responses
from django.test import Client
from django.utils import timezone

from fake_jira.forge.keys import ForgeKeySet
from fake_jira.forge.tokens import FitSpec, mint
from jira_app import forge
from jira_app.client import ForgeApiClient
from jira_app.crypto import Secret
from jira_app.models import ForgeInstallation, ForgeLifecycleEvent, UsedInvocationToken

pytestmark = pytest.mark.django_db

APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"
JWKS_URL = "https://forge.example.test/.well-known/jwks.json"
API_BASE_URL = "https://api.example.test/ex/jira/5e8c1f0a-8d1b-4f3e-9c7a-2b6d4e1f0a93"
INSTALLATION_ID = "ari:cloud:ecosystem::installation/7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
LIFECYCLE = "/jira/forge/lifecycle"
PROJECTS = "/jira/forge/api/projects"


@pytest.fixture(autouse=True)
def forge_settings(settings):
    settings.ATLASSIAN_FORGE_APP_ID = APP_ID
    settings.ATLASSIAN_FORGE_JWKS_URL = JWKS_URL
    forge.forget_keys()
    yield settings
    forge.forget_keys()


@pytest.fixture(scope="module")
def keys() -> ForgeKeySet:
    return ForgeKeySet()


@pytest.fixture
def jwks(mocked_requests, keys):
    """Forge's JWKS at the configured URL; any other outbound call fails the test (mocked_requests)."""
    return mocked_requests.add(responses.GET, JWKS_URL, json=keys.jwks())


def fit(keys: ForgeKeySet, **changes) -> str:
    return mint(spec(**changes), keys)


def spec(**changes) -> FitSpec:
    fields = {"principal": "557058:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", **changes}
    return FitSpec(
        app_id=APP_ID,
        app_version="1.0.0",
        installation_id=INSTALLATION_ID,
        api_base_url=API_BASE_URL,
        environment_id=f"ari:cloud:ecosystem::environment/{APP_ID.rsplit('/', 1)[1]}/production",
        cloud_id="5e8c1f0a-8d1b-4f3e-9c7a-2b6d4e1f0a93",
        site_url="https://acme.atlassian.net",
        module_key="projects-endpoint",
        **fields,
    )


def call(token: str, path: str = PROJECTS, method: str = "get", **kwargs):
    return getattr(Client(), method)(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.ConnectionError("refused")},
        {"status": 500, "body": "oops"},
        {"status": 200, "body": "<html>not json</html>"},
        {"status": 200, "json": ["not", "an", "object"]},
        {"status": 302, "headers": {"Location": "https://evil.example/jwks.json"}},
        {"status": 200, "body": "x" * (forge.MAX_JWKS_BYTES + 1)},
    ],
    ids=["unreachable", "500", "not json", "not an object", "redirect", "oversized"],
)
def test_a_broken_jwks_is_a_401_never_a_5xx(mocked_requests, keys, answer):
    mocked_requests.add(responses.GET, JWKS_URL, **answer)

    response = call(fit(keys))

    assert response.status_code == 401
    assert response.json()["error"] == "jwks_unavailable"
    assert [c.request.url for c in mocked_requests.calls] == [JWKS_URL]


def test_keys_come_only_from_the_configured_jwks(jwks, keys, mocked_requests):
    """A token naming its own key set (jku, x5u) still gets only the configured JWKS fetched."""
    mocked_requests.add(responses.GET, f"{API_BASE_URL}/rest/api/3/project/search", json={"values": []})
    headers = {"kid": keys.current.kid, "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/x"}
    token = jwt.encode(spec().claims(), keys.current.private_key, algorithm="RS256", headers=headers)

    assert call(token).status_code == 200
    assert [c.request.url for c in mocked_requests.calls if "evil" in c.request.url] == []
    assert jwks.call_count == 1


def test_expired_jti_records_are_purged(jwks, keys, mocked_requests):
    mocked_requests.add(responses.GET, f"{API_BASE_URL}/rest/api/3/project/search", json={"values": []})
    old = UsedInvocationToken.objects.create(jti_sha256="0" * 64, expires_at=timezone.now() - timedelta(seconds=1))

    assert call(fit(keys)).status_code == 200

    assert not UsedInvocationToken.objects.filter(pk=old.pk).exists()
    assert UsedInvocationToken.objects.count() == 1


def test_the_page_data_reads_projects_with_the_system_token_only_from_api_base_url(jwks, keys, mocked_requests):
    search = mocked_requests.add(
        responses.GET, f"{API_BASE_URL}/rest/api/3/project/search", json={"values": [{"key": "OPS", "name": "Ops"}]}
    )
    response = Client().get(
        PROJECTS, headers={"Authorization": f"Bearer {fit(keys)}", "x-forge-oauth-system": "system-token-123"}
    )

    assert response.status_code == 200
    assert response.json()["projects"] == [{"key": "OPS", "name": "Ops"}]
    assert search.calls[0].request.headers["Authorization"] == "Bearer system-token-123"


def test_without_a_system_token_the_page_data_says_so(jwks, keys):
    response = call(fit(keys))

    assert response.status_code == 200
    assert "appSystemToken" in response.json()["error"]


def test_the_forge_client_stays_on_api_base_url():
    client = ForgeApiClient(API_BASE_URL, Secret("system-token"))

    with pytest.raises(ValueError, match="relative"):
        client.request("GET", "https://evil.example/rest/api/3/myself")
    with pytest.raises(ValueError, match="relative"):
        client.request("GET", "//evil.example/rest/api/3/myself")
    assert "system-token" not in repr(client.__dict__)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"eventType": "avi:jira:created:issue", "id": INSTALLATION_ID}).encode(),
        json.dumps({"eventType": "avi:forge:installed:app", "id": "../../etc"}).encode(),
        json.dumps({"eventType": "avi:forge:installed:app", "id": INSTALLATION_ID, "app": {"version": 3}}).encode(),
    ],
    ids=["not json", "not an object", "other event", "id not an ARI", "version not a string"],
)
def test_bad_trigger_bodies_are_a_400_and_change_nothing(jwks, keys, body):
    response = call(fit(keys, principal=None), LIFECYCLE, "post", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "bad_trigger"
    assert not ForgeLifecycleEvent.objects.exists()


def test_a_hostile_ic_label_is_refused_before_use(jwks, keys):
    response = call(fit(keys, ic_label="eu-west/../../x"))

    assert response.status_code == 401
    assert not ForgeInstallation.objects.exists()


def test_a_plain_ic_label_is_accepted(jwks, keys, mocked_requests):
    mocked_requests.add(responses.GET, f"{API_BASE_URL}/rest/api/3/project/search", json={"values": []})

    assert call(fit(keys, ic_label="eu_1-pinned")).status_code == 200


def _segment(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer    ",
        "JWT a.b.c",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer " + "x" * 20_000,
        "Bearer é.é.é",
        f"Bearer {_segment([1])}.{_segment({})}.",
        f"Bearer {_segment({'alg': 'RS256', 'kid': ['list']})}.{_segment({})}.c2ln",
        f"Bearer {_segment({'alg': 'RS256', 'kid': '../../etc/passwd?x=1'})}.{_segment({})}.c2ln",
        f"Bearer {_segment({'alg': 'RS512', 'kid': 'k'})}.{_segment({})}.c2ln",
        f"Bearer {_segment({'alg': 'none'})}.{_segment({'iss': 'forge/invocation-token'})}.",
    ],
    ids=lambda value: value[:24] or "empty",
)
def test_garbage_authorization_is_a_401_and_fetches_nothing(mocked_requests, authorization):
    response = Client().get(PROJECTS, headers={"Authorization": authorization} if authorization else {})

    assert response.status_code == 401
    assert response.json()["error"] in {"missing_token", "malformed_token", "wrong_algorithm", "bad_kid"}
    assert len(mocked_requests.calls) == 0
