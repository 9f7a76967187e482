"""What an unauthenticated request can make the app do: a 401 for any token, no query for an impossible iss,
one refusal for unknown sites and bad signatures, and no hashing of a body before the signature verifies."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from jira_app import tokens
from jira_app.models import AtlassianHost, WebhookDelivery
from tests.signing import host_token

pytestmark = pytest.mark.django_db

# (method, path) of every route that authenticates, with how its token travels.
ROUTES = [
    ("GET", "/jira/hello.html"),
    ("GET", "/jira/api/whoami"),
    ("POST", "/jira/webhooks/issue-created"),
    ("POST", "/jira/enabled"),
    ("POST", "/jira/disabled"),
    ("POST", "/jira/installed"),
    ("POST", "/jira/uninstalled"),
]
ROUTE_IDS = [path.rsplit("/", 1)[1] for _, path in ROUTES]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: bytes, claims: bytes, signature: bytes = b"sig") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature)}"


def send(client, method: str, path: str, token: str, **extra):
    if method == "GET":
        return client.get(path, HTTP_AUTHORIZATION=f"JWT {token}", **extra)
    return client.post(path, b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}", **extra)


DEEP = b"[" * 1000 + b"]" * 1000
DEEP_TOKENS = {
    "deep header": raw_token(b'{"alg": "HS256", "x": ' + DEEP + b"}", b'{"iss": "acme"}'),
    "deep claims": raw_token(b'{"alg": "HS256"}', b'{"iss": "acme", "x": ' + DEEP + b"}"),
    "deep claims, RS256": raw_token(b'{"alg": "RS256", "kid": "k"}', b'{"iss": "acme", "x": ' + DEEP + b"}"),
    "NaN exp": raw_token(b'{"alg": "HS256"}', b'{"iss": "acme", "exp": NaN}'),
    "Infinity iat": raw_token(b'{"alg": "HS256"}', b'{"iss": "acme", "iat": Infinity}'),
}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("case", DEEP_TOKENS)
def test_a_malformed_token_is_a_401_on_every_route(client, install_signer, method, path, case):
    response = send(client, method, path, DEEP_TOKENS[case])

    assert response.status_code == 401
    assert response.json()["error"] == "malformed_token"


IMPOSSIBLE_ISSUERS = {
    "lone surrogate": "\ud800",
    "NUL": "acme\x00",
    "longer than the column": "k" * 256,
    "newline": "acme\nfake log line",
    "number": 42,
    "list": ["acme"],
    "object": {"clientKey": "acme"},
    "empty": "",
}


@pytest.mark.parametrize("iss", IMPOSSIBLE_ISSUERS.values(), ids=IMPOSSIBLE_ISSUERS)
def test_an_impossible_iss_is_refused_before_any_query(client, installed_site, django_assert_num_queries, iss):
    token = raw_token(b'{"alg": "HS256"}', json.dumps({"iss": iss, "iat": 1, "exp": 2**40, "qsh": "x"}).encode())

    with django_assert_num_queries(0):
        response = client.get(f"/jira/hello.html?jwt={token}")

    assert response.status_code == 401
    assert response.json()["error"] in ("bad_claims", "malformed_token")


def test_the_longest_possible_iss_is_looked_up():
    claims = json.dumps({"iss": "k" * tokens.MAX_ISSUER_LENGTH}).encode()
    assert tokens.read_unverified(raw_token(b'{"alg": "HS256"}', claims)).issuer == "k" * 255
    assert AtlassianHost._meta.get_field("client_key").max_length == tokens.MAX_ISSUER_LENGTH


def test_unknown_site_and_bad_signature_get_the_same_refusal(client, installed_site, caplog):
    unknown = host_token("nobody-installed-me", installed_site.secret)
    forged = host_token(installed_site.client_key, "ATCO-not-the-secret-0123456789abcdef0123")

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        first = client.get(f"/jira/hello.html?jwt={unknown}")
        second = client.get(f"/jira/hello.html?jwt={forged}")

    assert (first.status_code, first.content, dict(first.headers)) == (
        second.status_code,
        second.content,
        dict(second.headers),
    )
    assert first.status_code == 401
    assert first.json()["error"] == "invalid_token"
    # The precise reason stays in the security log.
    lines = [record.getMessage() for record in caplog.records if record.name == "jira_app.security"]
    assert "unknown_host" in lines[0]
    assert "bad_signature" in lines[1]


@pytest.mark.parametrize(
    "claims",
    [
        {"alg": "RS256"},
        {"alg": "none"},
        {"exp": 1},
        {"qsh": "bound-to-another-request"},
        {"iat": None},
    ],
    ids=["RS256", "alg none", "expired", "wrong qsh", "no iat"],
)
def test_an_unknown_site_cannot_be_told_from_an_installed_one(client, installed_site, claims):
    """Whatever else is wrong with a token, the answer does not depend on whether its iss is installed."""
    alg = claims.pop("alg", "HS256")

    def answer(client_key: str):
        if alg == "HS256":
            token = host_token(client_key, "ATCO-not-the-secret-0123456789abcdef0123", **claims)
        else:
            token = raw_token(json.dumps({"alg": alg}).encode(), json.dumps({"iss": client_key}).encode())
        response = client.get(f"/jira/hello.html?jwt={token}")
        return response.status_code, response.json(), response["WWW-Authenticate"]

    assert answer(installed_site.client_key) == answer("nobody-installed-me")


def test_a_bad_install_signature_gets_the_same_refusal(jira, install_signer, site):
    token = install_signer.token(site.client_key)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = jira.client.post(
        "/jira/installed", site.lifecycle_body("installed"), content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {forged}",
    )  # fmt: skip
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


FORM = "application/x-www-form-urlencoded"


def test_a_form_body_is_not_read_before_the_signature_verifies(client, installed_site, settings):
    # Hashing this body with the query took seconds of CPU; it is larger than Django reads at all.
    body = b"a&" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 2 + 1)
    forged = host_token(installed_site.client_key, "ATCO-not-the-secret-0123456789abcdef0123", "POST", "/x")

    response = client.post("/jira/webhooks/issue-created", body, content_type=FORM, HTTP_AUTHORIZATION=f"JWT {forged}")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_signed_form_body_with_too_many_fields_is_refused_unhashed(client, installed_site, settings, caplog):
    path = "/jira/webhooks/issue-created"
    token = host_token(installed_site.client_key, installed_site.secret, "POST", path)
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    response = client.post(path, body, content_type=FORM, HTTP_AUTHORIZATION=f"JWT {token}")

    # Refused as Django refuses too many fields (its own 400), before authentication let the view see it.
    assert response.status_code == 400
    assert b"bad_webhook" not in response.content
    assert not WebhookDelivery.objects.exists()
    # And logged as Django logs it, with its own words, for the operator who searches for them.
    assert [r.getMessage() for r in caplog.records if r.name == "django.security.TooManyFieldsSent"] == [
        "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
    ]


def test_a_signed_form_body_within_the_limit_is_hashed_as_jira_does(client, installed_site):
    path = "/jira/webhooks/issue-created"
    token = host_token(installed_site.client_key, installed_site.secret, "POST", path, "a=1&b=2")

    response = client.post(path, "b=2&a=1", content_type=FORM, HTTP_AUTHORIZATION=f"JWT {token}")

    # Authenticated by the form-merged qsh; refused by the webhook view, which takes JSON only.
    assert response.status_code == 400
    assert response.json()["error"] == "bad_webhook"


@pytest.mark.parametrize("claimed", ["\ud800", "é" * 64, "\x00" * 64])
def test_an_odd_qsh_under_a_valid_signature_is_a_401(client, installed_site, claimed):
    token = host_token(installed_site.client_key, installed_site.secret, qsh_value=claimed)

    response = client.get(f"/jira/hello.html?jwt={token}")

    assert response.status_code == 401
