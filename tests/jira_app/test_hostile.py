"""Forged installs and forged requests: each gets a 4xx, a log line without secrets, and changes nothing.

The victim is an installed site; the attacker tries to overwrite its secret (the tenant-takeover attack of
docs/mistakes.md) or to act as it. After every attempt the victim's row is byte-for-byte the same and its
real secret still works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from django.forms.models import model_to_dict

from jira_app import qsh
from jira_app.models import AtlassianHost, LifecycleEvent
from tests.signing import Site, context_token, host_token

pytestmark = pytest.mark.django_db

ATTACKER_SECRET = "ATCO-attacker-chosen-secret-0123456789abcdef"


@pytest.fixture
def victim(jira) -> Site:
    site = Site("victim")
    assert jira.installed(site).status_code == 204
    return site


def snapshot(site: Site) -> dict:
    host = AtlassianHost.objects.get(client_key=site.client_key)
    return {
        **model_to_dict(host),
        "encrypted_shared_secret": host.encrypted_shared_secret,
        "updated": host.updated_at,
    }


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(claims: dict, alg: str = "none") -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


def install_claims(site: Site, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": site.client_key,
        "aud": ["https://app.example.test"],
        "iat": now,
        "exp": now + 180,
        "qsh": qsh.query_string_hash("POST", "/jira/installed"),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "557058:mallory"
    return f"{header}.{b64(claims)}.{signature}"


def public_pem(signer) -> bytes:
    return signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_keyed_with_public_key(signer, victim) -> str:
    """Algorithm confusion: HMAC keyed with the public PEM (PyJWT itself refuses to mint this)."""
    signing_input = f"{b64({'alg': 'HS256', 'kid': signer.kid})}.{b64(install_claims(victim))}"
    signature = hmac.new(public_pem(signer), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


# Each forgery: (signer, victim) -> Authorization header value, or None for no header.
FORGED_INSTALL_TOKENS = {
    "no token": lambda signer, victim: None,
    "HS256 with the attacker's secret": lambda signer, victim: (
        "JWT " + jwt.encode(install_claims(victim), ATTACKER_SECRET, algorithm="HS256")
    ),
    "HS256 with the victim's current secret": lambda signer, victim: (
        "JWT " + jwt.encode(install_claims(victim), victim.secret, algorithm="HS256")
    ),
    "alg none": lambda signer, victim: "JWT " + unsigned(install_claims(victim)),
    "alg none with a kid": lambda signer, victim: (
        "JWT " + f"{b64({'alg': 'none', 'kid': signer.kid})}.{b64(install_claims(victim))}."
    ),
    "HS256 keyed with the RSA public key": lambda signer, victim: "JWT " + hs256_keyed_with_public_key(signer, victim),
    "unknown kid": lambda signer, victim: "JWT " + signer.token(victim.client_key, kid="not-a-key-atlassian-has"),
    "wrong aud": lambda signer, victim: "JWT " + signer.token(victim.client_key, aud=["https://evil.example"]),
    "no aud": lambda signer, victim: "JWT " + signer.token(victim.client_key, aud=None),
    "iss of another site": lambda signer, victim: "JWT " + signer.token("another-client-key"),
    "expired": lambda signer, victim: (
        "JWT " + signer.token(victim.client_key, iat=int(time.time()) - 3600, exp=int(time.time()) - 600)
    ),
    "no exp": lambda signer, victim: "JWT " + signer.token(victim.client_key, exp=None),
    "no qsh": lambda signer, victim: "JWT " + signer.token(victim.client_key, qsh=None),
    "no iss": lambda signer, victim: "JWT " + signer.token(victim.client_key, iss=None),
    "qsh of GET": lambda signer, victim: (
        "JWT " + signer.token(victim.client_key, qsh=qsh.query_string_hash("GET", "/jira/installed"))
    ),
    "qsh of another path": lambda signer, victim: (
        "JWT " + signer.token(victim.client_key, qsh=qsh.query_string_hash("POST", "/jira/uninstalled"))
    ),
    "qsh of another query": lambda signer, victim: (
        "JWT " + signer.token(victim.client_key, qsh=qsh.query_string_hash("POST", "/jira/installed", "a=b"))
    ),
    "context qsh": lambda signer, victim: "JWT " + signer.token(victim.client_key, qsh=qsh.CONTEXT_QSH),
    "tampered signature": lambda signer, victim: "JWT " + tampered(signer.token(victim.client_key)),
    "garbage": lambda signer, victim: "JWT not-a-token-at-all",
    "two segments": lambda signer, victim: "JWT " + ".".join(signer.token(victim.client_key).split(".")[:2]),
    "100 kB token": lambda signer, victim: "JWT " + signer.token(victim.client_key, padding="x" * 100_000),
    "Bearer scheme": lambda signer, victim: "Bearer " + signer.token(victim.client_key),
}

BAD_KIDS = [
    "",
    "../keys",
    "a/../b",
    "/leading",
    "a//b",
    "a?b",
    "a#b",
    "a%2Fb",
    "a\\b",
    "user@host",
    "host:80",
    "a\nb",
    "a\x00b",
    "k" * 257,
    "https://evil.example/key",
    ".",
]


def assert_untouched(jira, victim, before):
    assert snapshot(victim) == before
    assert LifecycleEvent.objects.filter(host__client_key=victim.client_key).count() == 1
    assert jira.load_page(victim).status_code == 200
    assert jira.load_page(victim, secret=ATTACKER_SECRET).status_code == 401


@pytest.mark.parametrize("forgery", FORGED_INSTALL_TOKENS)
def test_forged_install_is_refused_and_changes_nothing(jira, victim, install_signer, forgery, caplog):
    before = snapshot(victim)
    authorization = FORGED_INSTALL_TOKENS[forgery](install_signer, victim)
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    attacker = Site("victim", client_key=victim.client_key, secret=ATTACKER_SECRET)

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        response = jira.client.post(
            "/jira/installed", attacker.lifecycle_body("installed"), content_type="application/json", **extra
        )

    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("JWT ")
    assert "refused POST '/jira/installed'" in caplog.text
    assert ATTACKER_SECRET not in caplog.text
    assert victim.secret not in caplog.text
    assert_untouched(jira, victim, before)


@pytest.mark.parametrize("kid", BAD_KIDS)
def test_install_with_an_unsafe_kid_is_refused_before_any_fetch(jira, victim, install_signer, mocked_requests, kid):
    before = snapshot(victim)
    token = install_signer.token(victim.client_key, kid=kid)
    attacker = Site("victim", client_key=victim.client_key, secret=ATTACKER_SECRET)
    calls_before = len(mocked_requests.calls)

    response = jira.client.post(
        "/jira/installed",
        attacker.lifecycle_body("installed"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert response.status_code == 401
    # A NUL anywhere in a token's JSON makes the whole token malformed (jira_app.bodies), the kid included.
    assert response.json()["error"] == ("malformed_token" if "\x00" in kid else "bad_kid")
    assert len(mocked_requests.calls) == calls_before
    assert_untouched(jira, victim, before)


BAD_BODIES = {
    "invalid JSON": b"{not json",
    "JSON array": b"[1, 2]",
    "JSON string": b'"installed"',
    "no clientKey": {"clientKey": None},
    "no sharedSecret": {"sharedSecret": None},
    "empty sharedSecret": {"sharedSecret": ""},
    "no baseUrl": {"baseUrl": None},
    "baseUrl not a URL": {"baseUrl": "javascript:alert(1)"},
    "clientKey not a string": {"clientKey": 42},
    "sharedSecret over 400 bytes": {"sharedSecret": "s" * 401},
    "another app's key": {"key": "someone-elses-app"},
    # Every field within its own limit: only the 64 KiB body limit refuses it.
    "oversized body": {"padding": "p" * 70_000},
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_install_with_a_bad_body_is_a_400_and_changes_nothing(jira, victim, install_signer, case):
    before = snapshot(victim)
    attacker = Site("victim", client_key=victim.client_key, secret=ATTACKER_SECRET)
    body = BAD_BODIES[case]
    if isinstance(body, dict):
        body = attacker.lifecycle_body("installed", **body)
    token = install_signer.token(victim.client_key)

    response = jira.client.post(
        "/jira/installed", body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_payload"
    assert_untouched(jira, victim, before)


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        ({"body": requests.ConnectionError("refused")}, 503),
        ({"body": requests.Timeout("slow")}, 503),
        ({"status": 500, "body": "oops"}, 503),
        ({"status": 200, "body": "this is not a PEM key"}, 503),
        ({"status": 302, "headers": {"Location": "https://evil.example/key"}}, 503),
        ({"status": 404, "body": "not found"}, 401),
    ],
    ids=["down", "slow", "500", "garbage", "redirect", "404"],
)
def test_key_service_failures_refuse_the_install(jira, install_signer, mocked_requests, settings, failure, status):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = "https://failing-keys.example.test"
    mocked_requests.get("https://failing-keys.example.test/kid-under-test", **failure)
    site = Site("newcomer")
    token = install_signer.token(site.client_key, kid="kid-under-test")

    response = jira.client.post(
        "/jira/installed",
        site.lifecycle_body("installed"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert response.status_code == status
    assert not AtlassianHost.objects.filter(client_key=site.client_key).exists()


FORGED_PAGE_TOKENS = {
    "no token": lambda victim, other: None,
    "alg none": lambda victim, other: unsigned(
        {"iss": victim.client_key, "iat": int(time.time()), "exp": int(time.time()) + 180, "qsh": page_qsh()}
    ),
    "HS512": lambda victim, other: jwt.encode(
        {"iss": victim.client_key, "iat": int(time.time()), "exp": int(time.time()) + 180, "qsh": page_qsh()},
        victim.secret,
        algorithm="HS512",
    ),
    "expired": lambda victim, other: host_token(
        victim.client_key,
        victim.secret,
        query="lic=none",
        iat=int(time.time()) - 3600,
        exp=int(time.time()) - 600,
    ),
    "no exp": lambda victim, other: host_token(victim.client_key, victim.secret, query="lic=none", exp=None),
    "no iat": lambda victim, other: host_token(victim.client_key, victim.secret, query="lic=none", iat=None),
    "no iss": lambda victim, other: host_token(victim.client_key, victim.secret, query="lic=none", iss=None),
    "no qsh": lambda victim, other: jwt.encode(
        {"iss": victim.client_key, "iat": int(time.time()), "exp": int(time.time()) + 180}, victim.secret
    ),
    "qsh of POST": lambda victim, other: host_token(victim.client_key, victim.secret, "POST", query="lic=none"),
    "qsh of another path": lambda victim, other: host_token(
        victim.client_key, victim.secret, path="/jira/api/whoami", query="lic=none"
    ),
    "qsh of another query": lambda victim, other: host_token(victim.client_key, victim.secret, query="lic=paid"),
    "context token": lambda victim, other: context_token(victim.client_key, victim.secret),
    "victim's iss, other site's secret": lambda victim, other: host_token(
        victim.client_key, other.secret, query="lic=none"
    ),
    "unknown iss": lambda victim, other: host_token("nobody-installed-me", victim.secret, query="lic=none"),
    "tampered": lambda victim, other: tampered(host_token(victim.client_key, victim.secret, query="lic=none")),
    "garbage": lambda victim, other: "garbage",
    "two segments": lambda victim, other: "a.b",
    "100 kB": lambda victim, other: host_token(victim.client_key, victim.secret, query="lic=none", pad="x" * 100_000),
}


def page_qsh() -> str:
    return qsh.query_string_hash("GET", "/jira/hello.html", "lic=none")


@pytest.mark.parametrize("forgery", FORGED_PAGE_TOKENS)
def test_forged_page_load_is_refused(jira, victim, forgery, caplog):
    other = Site("other")
    jira.installed(other)
    before = snapshot(victim)
    token = FORGED_PAGE_TOKENS[forgery](victim, other)

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        response = jira.client.get(f"/jira/hello.html?lic=none&jwt={token}" if token else "/jira/hello.html?lic=none")

    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"
    assert victim.secret not in caplog.text
    assert other.secret not in caplog.text
    assert (token or "no token") not in caplog.text or token is None
    assert snapshot(victim) == before
    assert jira.load_page(victim, query="lic=none").status_code == 200


def test_tenant_is_never_chosen_by_xdm_e(jira, victim):
    other = Site("other")
    jira.installed(other)
    query = f"xdm_e={victim.base_url}&cp="
    # Signed by `other`, claiming victim's site in xdm_e: the app serves `other`, identified by iss.
    response = jira.load_page(other, query=query)
    assert response.status_code == 200
    assert other.client_key in response.content.decode()
    assert victim.client_key not in response.content.decode()


@pytest.mark.parametrize("state", ["disabled", "uninstalled"])
def test_inactive_tenant_gets_401_everywhere(jira, victim, state):
    response = jira.uninstalled(victim) if state == "uninstalled" else jira.toggled(victim, "disabled")
    assert response.status_code == 204

    assert jira.load_page(victim).status_code == 401
    assert jira.whoami(victim, context_token(victim.client_key, victim.secret)).status_code == 401
    assert jira.webhook(victim).status_code == 401
