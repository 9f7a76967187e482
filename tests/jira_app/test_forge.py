"""jira_app.forge and its views at the edges: the JWKS fetch (only the configured URL, bounded, never a 5xx),
jti bookkeeping, trigger bodies, the Connect install's installationId, and the per-request Forge client."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
import responses
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.utils import timezone
from freezegun import freeze_time

from fake_jira.forge.keys import ForgeKeySet
from fake_jira.forge.tokens import FitForgery, FitSpec, mint
from jira_app import exceptions, forge
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
    fields = {
        "app_id": APP_ID,
        "app_version": "1.0.0",
        "installation_id": INSTALLATION_ID,
        "api_base_url": API_BASE_URL,
        "environment_id": f"ari:cloud:ecosystem::environment/{APP_ID.rsplit('/', 1)[1]}/production",
        "cloud_id": "5e8c1f0a-8d1b-4f3e-9c7a-2b6d4e1f0a93",
        "site_url": "https://acme.atlassian.net",
        "module_key": "projects-endpoint",
        "principal": "557058:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    }
    return FitSpec(**{**fields, **changes})


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


# --- authenticate_invocation: what a verified token says, and every refusal --------------------------------

USER = "557058:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
CLOUD_ID = "5e8c1f0a-8d1b-4f3e-9c7a-2b6d4e1f0a93"
LEEWAY = 30
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def signed(claims: dict[str, Any], keys: ForgeKeySet, *, algorithm: str = "RS256") -> str:
    """``claims`` as Forge would sign them, with its current key (for claims FitSpec cannot express)."""
    return jwt.encode(claims, keys.current.private_key, algorithm=algorithm, headers={"kid": keys.current.kid})


def forge_request(token: str, **headers: str) -> HttpRequest:
    return RequestFactory().get(PROJECTS, headers={"Authorization": f"Bearer {token}", **headers})


def authenticate(keys: ForgeKeySet, edit: Callable[[dict[str, Any]], object] | None = None, **changes: Any):
    """Verify a FIT for ``spec(**changes)``, its claims first changed by ``edit``."""
    claims = spec(**changes).claims()
    if edit is not None:
        edit(claims)
    return forge.authenticate_invocation(forge_request(signed(claims, keys)))


def refusal(action: Callable[[], object]) -> tuple[type[Exception], str, str]:
    with pytest.raises(exceptions.ConnectError) as excinfo:
        action()
    return type(excinfo.value), excinfo.value.reason, excinfo.value.message


def bad_claims(message: str) -> tuple[type[Exception], str, str]:
    return exceptions.InvalidClaims, "bad_claims", message


def test_a_call_from_a_user_names_its_installation_site_user_and_module(jwks, keys):
    claims = spec(ic_label="eu_1-pinned").claims()

    invocation = forge.authenticate_invocation(forge_request(signed(claims, keys)))

    assert invocation.app_id == APP_ID
    assert invocation.installation_id == INSTALLATION_ID
    assert invocation.cloud_id == CLOUD_ID
    assert invocation.api_base_url == API_BASE_URL
    assert invocation.environment_id == claims["app"]["environment"]["id"]
    assert invocation.environment_type == "PRODUCTION"
    assert invocation.module_key == "projects-endpoint"
    assert invocation.account_id == USER
    assert invocation.site_url == "https://acme.atlassian.net"
    assert invocation.ic_label == "eu_1-pinned"
    assert invocation.claims == claims


def test_a_call_from_forge_itself_has_no_user_or_site_url_and_takes_the_cloud_id_from_the_installation(jwks, keys):
    # A trigger or scheduled call carries no principal and no UI context, only app.installation.contexts.
    invocation = authenticate(keys, principal=None)

    assert invocation.account_id is None
    assert invocation.site_url == ""
    assert invocation.ic_label is None
    assert invocation.cloud_id == CLOUD_ID
    assert invocation.installation_id == INSTALLATION_ID


def test_the_ui_contexts_cloud_id_is_preferred_to_the_installation_contexts(jwks, keys):
    def edit(claims):
        claims["app"]["installation"]["contexts"] = ["ari:cloud:jira::site/from-the-installation"]

    assert authenticate(keys, edit).cloud_id == CLOUD_ID


def test_the_cloud_id_is_the_first_site_among_the_installation_contexts(jwks, keys):
    def edit(claims):
        claims["app"]["installation"]["contexts"] = [
            5,
            "ari:cloud:confluence::workspace/not-a-site",
            "ari:cloud:jira::site/first-site",
            "ari:cloud:jira::site/second-site",
        ]

    assert authenticate(keys, edit, principal=None).cloud_id == "first-site"


@pytest.mark.parametrize(
    "installation",
    [None, {}, {"contexts": None}, {"contexts": "ari:cloud:jira::site/not-in-a-list"}, "not an object"],
    ids=["absent", "no contexts", "null contexts", "contexts not a list", "not an object"],
)
def test_without_a_site_context_the_cloud_id_is_empty_not_an_error(jwks, keys, installation):
    def edit(claims):
        if installation is None:
            del claims["app"]["installation"]
        else:
            claims["app"]["installation"] = installation

    assert authenticate(keys, edit, principal=None).cloud_id == ""


def test_urls_lose_their_trailing_slashes_and_nothing_else(jwks, keys):
    invocation = authenticate(
        keys, api_base_url="https://api.example.test/ex/jira/TEAMX//", site_url="https://jira.example.test/SITEX/"
    )

    assert invocation.api_base_url == "https://api.example.test/ex/jira/TEAMX"
    assert invocation.site_url == "https://jira.example.test/SITEX"


@pytest.mark.parametrize("api_base_url", ["https://api.example.test/ex/jira/1", "http://127.0.0.1:8080/gateway"])
def test_an_absolute_http_or_https_api_base_url_is_accepted(jwks, keys, api_base_url):
    assert authenticate(keys, api_base_url=api_base_url).api_base_url == api_base_url


def test_the_oauth_headers_are_kept_as_secrets_for_the_request(jwks, keys):
    request = forge_request(fit(keys), **{"x-forge-oauth-system": "system-123", "x-forge-oauth-user": "user-456"})

    invocation = forge.authenticate_invocation(request)

    assert invocation.system_token == Secret("system-123")
    assert invocation.user_token == Secret("user-456")


@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_without_oauth_headers_there_are_no_api_tokens(jwks, keys, value):
    headers = {} if value is None else {"x-forge-oauth-system": value, "x-forge-oauth-user": value}

    invocation = forge.authenticate_invocation(forge_request(fit(keys), **headers))

    assert invocation.system_token is None
    assert invocation.user_token is None


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit setting the claim at ``path`` ('app.module.key'); a value of DELETE removes it."""

    def edit(claims: dict[str, Any]) -> None:
        *parents, name = path.split(".")
        target = claims
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[name]
        else:
            target[name] = value

    return edit


DELETE = object()

# Each claim with a length limit: (path, value of a given length, the invocation's attribute, the field named).
LIMITS = {
    "module key": ("app.module.key", lambda n: "k" * n, "module_key", 255, "'key'"),
    "environment id": ("app.environment.id", lambda n: "e" * n, "environment_id", 255, "'id'"),
    "environment type": ("app.environment.type", lambda n: "T" * n, "environment_type", 50, "'type'"),
    "cloudId": ("context.cloudId", lambda n: "c" * n, "cloud_id", 64, "'cloudId'"),
    "siteUrl": ("context.siteUrl", lambda n: "https://" + "s" * (n - 8), "site_url", 255, "'siteUrl'"),
    "apiBaseUrl": (
        "app.apiBaseUrl",
        lambda n: "https://api.example.test/" + "a" * (n - 25),
        "api_base_url",
        512,
        "'apiBaseUrl'",
    ),
}


@pytest.mark.parametrize("case", LIMITS.values(), ids=LIMITS.keys())
def test_a_claim_is_accepted_up_to_its_limit_and_refused_one_past_it(jwks, keys, case):
    path, value, attribute, limit, field_named = case

    assert getattr(authenticate(keys, _set(path, value(limit))), attribute) == value(limit)
    assert refusal(lambda: authenticate(keys, _set(path, value(limit + 1)))) == bad_claims(
        f"the invocation token's {field_named} is not a string of at most {limit} characters"
    )


def test_an_ic_label_of_50_characters_is_accepted_and_of_51_refused(jwks, keys):
    assert authenticate(keys, ic_label="l" * 50).ic_label == "l" * 50
    assert refusal(lambda: authenticate(keys, ic_label="l" * 51)) == bad_claims(
        "the invocation token's icLabel is not a plain label"
    )


def test_a_principal_of_128_characters_is_accepted_and_of_129_refused(jwks, keys):
    assert authenticate(keys, principal="p" * 128).account_id == "p" * 128
    assert refusal(lambda: authenticate(keys, principal="p" * 129)) == bad_claims(
        "the invocation token's principal is not an accountId"
    )


def test_a_jti_of_256_characters_is_accepted_and_of_257_refused(jwks, keys):
    authenticate(keys, _set("jti", "j" * 256))

    assert refusal(lambda: authenticate(keys, _set("jti", "j" * 257))) == bad_claims(
        "the invocation token's 'jti' is not a string"
    )


APP_SHAPE = "the invocation token has no 'app' object"
NOT_AN_INSTALLATION = "the invocation token's app.installationId is not an installation ARI"
NOT_AN_API_BASE_URL = "the invocation token's app.apiBaseUrl is not an absolute http(s) URL"
NOT_A_LABEL = "the invocation token's icLabel is not a plain label"
NOT_AN_ACCOUNT = "the invocation token's principal is not an accountId"

# Claims a signed token may still get wrong: (edit, the exact message of the InvalidClaims refusal).
CLAIM_REFUSALS = {
    "no app": (_set("app", DELETE), APP_SHAPE),
    "app not an object": (_set("app", "app"), APP_SHAPE),
    "app.id of another app": (
        _set("app.id", "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"),
        "the invocation token's app.id is not this app's ARI",
    ),
    "no installationId": (_set("app.installationId", DELETE), NOT_AN_INSTALLATION),
    "installationId not an ARI": (_set("app.installationId", "ari:cloud:ecosystem::app/x"), NOT_AN_INSTALLATION),
    "installationId not a string": (
        _set("app.installationId", 5),
        "the invocation token's 'installationId' is not a string of at most 255 characters",
    ),
    "no apiBaseUrl": (_set("app.apiBaseUrl", DELETE), NOT_AN_API_BASE_URL),
    "apiBaseUrl relative": (_set("app.apiBaseUrl", "/ex/jira/1"), NOT_AN_API_BASE_URL),
    "apiBaseUrl ftp": (_set("app.apiBaseUrl", "ftp://api.example.test/ex/jira/1"), NOT_AN_API_BASE_URL),
    "apiBaseUrl without a host": (_set("app.apiBaseUrl", "https:///ex/jira/1"), NOT_AN_API_BASE_URL),
    "apiBaseUrl with a query": (_set("app.apiBaseUrl", "https://api.example.test/ex?x=1"), NOT_AN_API_BASE_URL),
    "apiBaseUrl with a fragment": (_set("app.apiBaseUrl", "https://api.example.test/ex#x"), NOT_AN_API_BASE_URL),
    "icLabel a path": (_set("app.icLabel", "eu-west/../../x"), NOT_A_LABEL),
    "icLabel not a string": (_set("app.icLabel", 5), NOT_A_LABEL),
    "icLabel empty": (_set("app.icLabel", ""), NOT_A_LABEL),
    "principal with a space": (_set("principal", "557058:a b"), NOT_AN_ACCOUNT),
    "principal not a string": (_set("principal", 5), NOT_AN_ACCOUNT),
    "principal empty": (_set("principal", ""), NOT_AN_ACCOUNT),
    "jti empty": (_set("jti", ""), "the invocation token's 'jti' is not a string"),
    "aud a list naming this app": (_set("aud", [APP_ID]), "the invocation token's 'aud' is not this app's ARI"),
}


@pytest.mark.parametrize("case", CLAIM_REFUSALS.values(), ids=CLAIM_REFUSALS.keys())
def test_a_signed_token_with_a_bad_claim_is_refused_naming_it(jwks, keys, case):
    edit, message = case

    assert refusal(lambda: authenticate(keys, edit)) == bad_claims(message)
    assert not UsedInvocationToken.objects.exists()


@pytest.mark.parametrize("claim", ["iss", "aud", "iat", "nbf", "exp", "jti"])
def test_a_token_lacking_a_required_claim_is_refused_naming_it(jwks, keys, claim):
    assert refusal(lambda: authenticate(keys, _set(claim, DELETE))) == bad_claims(
        f"the invocation token lacks the required '{claim}' claim"
    )


# Tokens Forge did not sign as it does: (token, the refusal's class, reason and exact message).
TOKEN_REFUSALS = {
    "wrong aud": (
        lambda keys: mint(spec(), keys, FitForgery.WRONG_AUD),
        bad_claims("the invocation token's 'aud' is not this app's ARI"),
    ),
    "wrong iss": (
        lambda keys: mint(spec(), keys, FitForgery.WRONG_ISS),
        bad_claims("the invocation token's 'iss' is not 'forge/invocation-token'"),
    ),
    "expired": (
        lambda keys: mint(spec(), keys, FitForgery.EXPIRED),
        (exceptions.ExpiredToken, "expired", f"the invocation token has expired (leeway {LEEWAY} s)"),
    ),
    "not yet valid": (
        lambda keys: mint(spec(), keys, FitForgery.NOT_YET_VALID),
        bad_claims("the invocation token is not valid yet (nbf/iat in the future)"),
    ),
    "another key under Forge's kid": (
        lambda keys: mint(spec(), keys, FitForgery.OTHER_JWKS_KEY),
        (exceptions.InvalidSignature, "bad_signature", "the invocation token's signature does not verify"),
    ),
    "unknown kid": (
        lambda keys: mint(spec(), keys, FitForgery.UNKNOWN_KID),
        (forge.UnknownForgeKey, "unknown_kid", "the token's kid is not in Forge's key set"),
    ),
    "HS256": (
        lambda keys: mint(spec(), keys, FitForgery.HS256),
        (exceptions.WrongAlgorithm, "wrong_algorithm", "an invocation token must be signed with RS256"),
    ),
    "alg none": (
        lambda keys: mint(spec(), keys, FitForgery.ALG_NONE),
        (exceptions.WrongAlgorithm, "wrong_algorithm", "an invocation token must be signed with RS256"),
    ),
    "exp not a number": (
        lambda keys: signed({**spec().claims(), "exp": "soon"}, keys),
        (exceptions.MalformedToken, "malformed_token", "the invocation token is invalid: DecodeError"),
    ),
}


@pytest.mark.parametrize("case", TOKEN_REFUSALS.values(), ids=TOKEN_REFUSALS.keys())
def test_a_token_forge_did_not_sign_so_is_refused(jwks, keys, settings, case):
    make, expected = case
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = LEEWAY

    assert refusal(lambda: forge.authenticate_invocation(forge_request(make(keys)))) == expected
    assert not UsedInvocationToken.objects.exists()


def test_a_kid_that_is_not_plain_is_refused_before_any_fetch(mocked_requests, keys):
    token = jwt.encode(spec().claims(), keys.current.private_key, algorithm="RS256", headers={"kid": "a kid?"})

    assert refusal(lambda: forge.authenticate_invocation(forge_request(token))) == (
        exceptions.InvalidKeyId,
        "bad_kid",
        "the token's header has no plain 'kid'",
    )
    assert len(mocked_requests.calls) == 0


def test_an_unreachable_key_set_is_a_refusal_forge_retries(mocked_requests, keys):
    mocked_requests.add(responses.GET, JWKS_URL, body=requests.ConnectionError("refused"))

    assert refusal(lambda: forge.authenticate_invocation(forge_request(fit(keys)))) == (
        forge.ForgeKeysUnavailable,
        "jwks_unavailable",
        "Forge's key set could not be fetched: the call can be retried",
    )


def test_without_a_forge_app_id_no_call_is_accepted(mocked_requests, keys, settings):
    settings.ATLASSIAN_FORGE_APP_ID = ""

    assert refusal(lambda: forge.authenticate_invocation(forge_request(fit(keys)))) == (
        forge.ForgeNotConfigured,
        "forge_not_configured",
        "this app has no ATLASSIAN_FORGE_APP_ID: it accepts no Forge calls",
    )
    assert len(mocked_requests.calls) == 0


def test_the_decoder_itself_accepts_rs256_only(keys):
    # authenticate_invocation refuses other algorithms from the header first; the decoder does not rely on it.
    token = signed(spec().claims(), keys, algorithm="RS512")

    assert refusal(lambda: forge._decode(token, keys.current.private_key.public_key(), APP_ID)) == (
        exceptions.WrongAlgorithm,
        "wrong_algorithm",
        "an invocation token must be signed with RS256",
    )


@pytest.mark.parametrize("leeway", [LEEWAY, 5])
def test_a_token_is_accepted_up_to_the_leeway_past_its_exp(jwks, keys, settings, leeway):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = leeway
    with freeze_time(NOW):
        now = int(NOW.timestamp())
        # FitSpec's tokens live 60 s: issued 60 s before their exp.
        authenticate(keys, issued_at=now - 60 - (leeway - 1))

        assert refusal(lambda: authenticate(keys, issued_at=now - 60 - leeway)) == (
            exceptions.ExpiredToken,
            "expired",
            f"the invocation token has expired (leeway {leeway} s)",
        )


# --- jti bookkeeping: one use per token -------------------------------------------------------------------


def test_a_token_is_accepted_once(jwks, keys):
    token = fit(keys)
    forge.authenticate_invocation(forge_request(token))

    assert refusal(lambda: forge.authenticate_invocation(forge_request(token))) == (
        forge.ReplayedToken,
        "replayed_token",
        "this invocation token was already used (its jti was seen before)",
    )
    assert UsedInvocationToken.objects.count() == 1


def test_two_tokens_are_two_uses(jwks, keys):
    forge.authenticate_invocation(forge_request(fit(keys)))
    forge.authenticate_invocation(forge_request(fit(keys)))

    assert UsedInvocationToken.objects.count() == 2


@pytest.mark.parametrize("leeway", [LEEWAY, 7])
def test_a_jti_is_kept_by_its_digest_until_the_token_expires_plus_the_leeway(jwks, keys, settings, leeway):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = leeway
    claims = spec().claims()

    forge.authenticate_invocation(forge_request(signed(claims, keys)))

    used = UsedInvocationToken.objects.get()
    assert used.jti_sha256 == hashlib.sha256(claims["jti"].encode()).hexdigest()
    assert used.expires_at == datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=leeway)


def test_a_token_past_its_exp_within_the_leeway_is_kept_for_the_leeway_from_now(jwks, keys, settings):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = LEEWAY
    with freeze_time(NOW):
        authenticate(keys, issued_at=int(NOW.timestamp()) - 70)

        assert UsedInvocationToken.objects.get().expires_at == NOW + timedelta(seconds=LEEWAY)


def test_an_exp_that_is_a_numeric_string_is_refused(jwks, keys):
    # PyJWT lets "exp": "<digits>" through; the jti would then be forgotten long before the token expires.
    def edit(claims):
        claims["exp"] = str(claims["exp"])

    assert refusal(lambda: authenticate(keys, edit)) == bad_claims("the invocation token's 'exp' is not a number")
    assert not UsedInvocationToken.objects.exists()


@pytest.mark.parametrize("exp", [253402300799, 10**20, 1e300], ids=["9999-12-31", "1e20", "1e300"])
def test_an_exp_beyond_the_calendar_is_a_refusal_not_an_error(jwks, keys, exp):
    assert refusal(lambda: authenticate(keys, _set("exp", exp))) == bad_claims(
        "the invocation token's 'exp' is too far in the future"
    )
    assert not UsedInvocationToken.objects.exists()


# --- the key set: fetched within bounds, cached for its lifespan, refetched no more than the floor allows -------


@pytest.fixture
def forge_keys() -> ForgeKeySet:
    """A key set of this test's own, free to rotate and retire keys."""
    return ForgeKeySet()


@pytest.fixture
def served_jwks(mocked_requests, forge_keys):
    """Forge's JWKS as it stands at each fetch (rotations and retirements show on the next one)."""
    return mocked_requests.add_callback(
        responses.GET, JWKS_URL, callback=lambda request: (200, {}, json.dumps(forge_keys.jwks()))
    )


def verifies(keys: ForgeKeySet) -> bool:
    """Whether a fresh FIT signed with the current key verifies (False: its kid is not in the known set)."""
    try:
        forge.authenticate_invocation(forge_request(fit(keys)))
    except forge.UnknownForgeKey:
        return False
    return True


def unpublished_kid(keys: ForgeKeySet) -> None:
    """Sign with a key published after any fetch so far (the upcoming key was already published)."""
    keys.rotate()
    keys.rotate()


def test_the_key_set_is_fetched_with_a_5_second_timeout(jwks, keys, mocked_requests):
    forge.authenticate_invocation(forge_request(fit(keys)))

    assert mocked_requests.calls[0].request.req_kwargs["timeout"] == 5.0


@pytest.mark.parametrize(("cache_seconds", "floor_seconds"), [(120, 30), (1, 0)])
def test_a_retired_key_verifies_until_the_cached_set_expires(
    served_jwks, forge_keys, settings, cache_seconds, floor_seconds
):
    settings.ATLASSIAN_FORGE_JWKS_CACHE_SECONDS = cache_seconds
    settings.ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = floor_seconds
    with freeze_time(NOW) as clock:
        assert verifies(forge_keys)
        forge_keys.retire(forge_keys.current.kid)

        clock.tick(cache_seconds)
        assert verifies(forge_keys)
        assert served_jwks.call_count == 1

        clock.tick(1)
        assert not verifies(forge_keys)


def test_an_unknown_kid_within_the_refresh_floor_fetches_nothing(served_jwks, forge_keys, settings):
    settings.ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = 30
    with freeze_time(NOW) as clock:
        assert verifies(forge_keys)
        unpublished_kid(forge_keys)

        clock.tick(29)
        assert not verifies(forge_keys)
        assert not verifies(forge_keys)
        assert served_jwks.call_count == 1

        clock.tick(1)
        assert verifies(forge_keys)
        assert served_jwks.call_count == 2


def test_without_a_refresh_floor_each_newly_published_key_is_fetched_when_a_token_names_it(
    served_jwks, forge_keys, settings
):
    settings.ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = 0
    with freeze_time(NOW):
        assert verifies(forge_keys)
        unpublished_kid(forge_keys)
        assert verifies(forge_keys)
        unpublished_kid(forge_keys)
        assert verifies(forge_keys)

    assert served_jwks.call_count == 3


def test_the_key_set_is_reused_across_calls_without_a_refresh_floor(served_jwks, forge_keys, settings):
    settings.ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = 0

    assert verifies(forge_keys)
    assert verifies(forge_keys)
    assert served_jwks.call_count == 1


def padded_jwks(keys: ForgeKeySet, size: int) -> bytes:
    """Forge's JWKS as JSON of exactly ``size`` bytes."""
    unpadded = len(json.dumps({**keys.jwks(), "pad": ""}).encode())
    return json.dumps({**keys.jwks(), "pad": "x" * (size - unpadded)}).encode()


def test_a_key_set_of_64_kib_is_used_and_one_byte_more_refused(mocked_requests, keys):
    mocked_requests.add(responses.GET, JWKS_URL, body=padded_jwks(keys, forge.MAX_JWKS_BYTES))
    assert len(padded_jwks(keys, forge.MAX_JWKS_BYTES)) == forge.MAX_JWKS_BYTES == 64 * 1024

    forge.authenticate_invocation(forge_request(fit(keys)))

    forge.forget_keys()
    mocked_requests.replace(responses.GET, JWKS_URL, body=padded_jwks(keys, forge.MAX_JWKS_BYTES + 1))
    with pytest.raises(forge.ForgeKeysUnavailable) as excinfo:
        forge.authenticate_invocation(forge_request(fit(keys)))
    assert str(excinfo.value.__cause__) == "the JWKS endpoint answered HTTP 200"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"body": requests.ConnectionError("refused")}, "the JWKS fetch failed (ConnectionError)"),
        ({"status": 503, "body": "busy"}, "the JWKS endpoint answered HTTP 503"),
        (
            {"status": 302, "headers": {"Location": "https://evil.example/jwks.json"}},
            "the JWKS endpoint answered HTTP 302",
        ),
        ({"status": 200, "body": "<html>not json</html>"}, "the JWKS endpoint did not answer with JSON"),
        ({"status": 200, "json": ["not", "an", "object"]}, "the JWKS endpoint did not answer with a JSON object"),
    ],
    ids=["unreachable", "503", "redirect", "not json", "not an object"],
)
def test_a_broken_key_set_is_refused_saying_why_under_the_retryable_refusal(mocked_requests, keys, answer, why):
    mocked_requests.add(responses.GET, JWKS_URL, **answer)

    with pytest.raises(forge.ForgeKeysUnavailable) as excinfo:
        forge.authenticate_invocation(forge_request(fit(keys)))

    # The refusal is the same for Forge whatever went wrong; its cause says what, for whoever debugs it.
    assert (excinfo.value.reason, str(excinfo.value.__cause__)) == ("jwks_unavailable", why)
