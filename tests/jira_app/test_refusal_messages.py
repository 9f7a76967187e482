"""What each refusal tells the person who reads it: its reason code, its exact message, and the log lines.

Behaviour tests elsewhere assert reason codes only. The message is the app's word to the Jira admin or the
developer, saying what is wrong and how to fix it (never a token or a secret), and a log line is what an
operator searches for: both are pinned here, one table per module, so that rewording one is a deliberate
one-line edit in this file and never breaks a behaviour test.
"""

from __future__ import annotations

import json
import logging
import re
import time

import jwt
import pytest
import requests

from jira_app import exceptions, install_keys, lifecycle, tokens, webhooks
from jira_app.authentication import authenticate_host_request, token_from_request
from jira_app.crypto import Secret
from jira_app.decorators import AuthPolicy
from jira_app.models import AtlassianHost
from tests.jira_app.test_install_keys import ec_pem, unknown_algorithm_pem
from tests.signing import APP_BASE_URL, APP_KEY, KEYS_URL, host_token

SECRET = "ATCO-messages-" + "0123456789abcdef" * 4
KID = "connect-install-keys/2026-11/primary"


def refusal(action) -> tuple[str, str]:
    with pytest.raises(exceptions.ConnectError) as excinfo:
        action()
    return excinfo.value.reason, excinfo.value.message


# --- tokens --------------------------------------------------------------------------------------------


def claims(**overrides):
    now = int(time.time())
    values = {"iss": "client-1", "iat": now, "exp": now + 60, "qsh": "expected", **overrides}
    return {name: value for name, value in values.items() if value is not None}


def expected_hashes() -> list[str]:
    return ["expected"]


def verify(token: str, *, allow_context: bool = False) -> tokens.VerifiedToken:
    return tokens.verify_host_token(
        tokens.read_unverified(token),
        Secret(SECRET),
        expected_qsh=expected_hashes,
        allow_context=allow_context,
        leeway=0,
    )


def install(token: str, public_key) -> tokens.VerifiedToken:
    return tokens.verify_install_token(
        tokens.read_unverified(token), public_key, audience=APP_BASE_URL, expected_qsh=expected_hashes, leeway=0
    )


TOKEN_REFUSALS = {
    "no iss": (
        lambda key: tokens.UnverifiedToken(raw="", header={}, claims={}).issuer,
        "bad_claims",
        "the token has no 'iss' claim naming the Jira site (its clientKey)",
    ),
    "not base64url JSON": (
        lambda key: tokens.read_unverified("e30.bm90IGpzb24.sig"),
        "malformed_token",
        "the token is not a JWT (a segment is not base64url JSON)",
    ),
    "not an object": (
        lambda key: tokens.read_unverified("W10.e30.sig"),
        "malformed_token",
        "the token is not a JWT (a segment is not a JSON object)",
    ),
    "too long": (
        lambda key: tokens.read_unverified("e30.e30." + "s" * 8187),
        "malformed_token",
        "the token is longer than 8192 characters",
    ),
    "two segments": (
        lambda key: tokens.read_unverified("e30.e30"),
        "malformed_token",
        "the token is not a JWT (it needs three dot-separated segments)",
    ),
    "expired": (
        lambda key: verify(jwt.encode(claims(exp=int(time.time()) - 5), SECRET)),
        "expired",
        "the token has expired (leeway 0 s): reload the page in Jira, or check the clock",
    ),
    "algorithm in the header": (
        lambda key: tokens._decode(
            jwt.encode(claims(), SECRET, algorithm="HS512"), SECRET, "HS256", leeway=0, audience=None
        ),
        "wrong_algorithm",
        "the token must be signed with HS256",
    ),
    "signature": (
        lambda key: verify(jwt.encode(claims(), SECRET + "-other")),
        "bad_signature",
        "the token's signature does not verify",
    ),
    "missing claim": (
        lambda key: verify(jwt.encode(claims(iat=None), SECRET)),
        "bad_claims",
        "the token lacks the required 'iat' claim",
    ),
    "aud": (
        lambda key: install(
            jwt.encode(claims(aud="https://other.example"), key, algorithm="RS256", headers={"kid": KID}),
            key.public_key(),
        ),
        "bad_claims",
        "the token's 'aud' is not this app's baseUrl",
    ),
    "aud naming another app too": (
        lambda key: install(
            jwt.encode(
                claims(aud=[APP_BASE_URL, "https://other.example"]), key, algorithm="RS256", headers={"kid": KID}
            ),
            key.public_key(),
        ),
        "bad_claims",
        "the token's 'aud' names other apps besides this app's baseUrl",
    ),
    "install token living 901 s": (
        lambda key: install(
            jwt.encode(
                claims(aud=APP_BASE_URL, exp=int(time.time()) + 901), key, algorithm="RS256", headers={"kid": KID}
            ),
            key.public_key(),
        ),
        "bad_claims",
        "the token lives longer than 900 s (exp - iat): Atlassian's never do",
    ),
    "not yet valid": (
        lambda key: verify(jwt.encode(claims(iat=int(time.time()) + 600, exp=int(time.time()) + 900), SECRET)),
        "bad_claims",
        "the token is not valid yet (iat/nbf in the future): check the clock",
    ),
    "other PyJWT error": (
        lambda key: verify(jwt.encode(claims(exp="soon"), SECRET)),
        "malformed_token",
        "the token is invalid: DecodeError",
    ),
    "qsh not a string": (
        lambda key: verify(jwt.encode(claims(qsh=5), SECRET)),
        "bad_claims",
        "the token's 'qsh' claim is not a string",
    ),
    "context token": (
        lambda key: verify(jwt.encode(claims(qsh="context-qsh"), SECRET)),
        "context_token_refused",
        "a context token (qsh 'context-qsh') is not accepted here: this route needs a token bound to the request",
    ),
    "qsh mismatch": (
        lambda key: verify(jwt.encode(claims(qsh="other"), SECRET)),
        "qsh_mismatch",
        "the token's qsh is bound to another method, path or query",
    ),
    "tenant token not HS256": (
        lambda key: verify(jwt.encode(claims(), SECRET, algorithm="HS384")),
        "wrong_algorithm",
        "a token from a Jira site must be signed with HS256",
    ),
    "install token not RS256": (
        lambda key: install(jwt.encode(claims(aud=APP_BASE_URL), SECRET), key.public_key()),
        "wrong_algorithm",
        "install and uninstall callbacks must be signed by Atlassian with RS256",
    ),
}


@pytest.mark.parametrize("case", TOKEN_REFUSALS.values(), ids=TOKEN_REFUSALS.keys())
def test_token_refusals(atlassian_private_key, case):
    action, reason, message = case

    assert refusal(lambda: action(atlassian_private_key)) == (reason, message)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (lambda: ec_pem(), "the install key is not an RSA public key"),
        (lambda: unknown_algorithm_pem(), "the install key is of an unsupported type"),
    ],
    ids=["ec", "unknown"],
)
def test_an_install_key_that_cannot_be_used_is_named(pem, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tokens.load_public_key(pem())


# --- authentication ------------------------------------------------------------------------------------


def test_a_request_without_a_token_says_where_the_token_goes(rf):
    assert refusal(lambda: token_from_request(rf.get("/jira/hello.html"))) == (
        "missing_token",
        "no JWT: expected an 'Authorization: JWT <token>' header or a 'jwt' query parameter",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("disabled", "the app is disabled on this Jira site"),
        ("uninstalled", "the app is uninstalled on this Jira site: its secret is revoked"),
    ],
)
def test_an_inactive_site_is_told_its_state(jira, installed_site, event, message):
    if event == "disabled":
        assert jira.toggled(installed_site, "disabled").status_code == 204
    else:
        assert jira.uninstalled(installed_site).status_code == 204

    response = jira.load_page(installed_site)

    assert response.status_code == 401
    assert response.json() == {"error": "inactive_host", "message": message}


@pytest.mark.django_db
def test_a_token_from_an_unknown_site_says_to_install_first(rf):
    request = rf.get("/jira/hello.html", HTTP_AUTHORIZATION=f"JWT {host_token('no-such-site', SECRET)}")

    with pytest.raises(exceptions.UnknownHost) as excinfo:
        authenticate_host_request(request, AuthPolicy.HOST_REQUEST)
    assert excinfo.value.message == "the token's iss is not an installed Jira site: install the app first"


@pytest.mark.django_db
def test_an_install_not_signed_by_atlassian_says_how_it_must_be_signed(client, site):
    token = host_token(site.client_key, SECRET, "POST", "/jira/installed")

    response = client.post(
        "/jira/installed",
        site.lifecycle_body("installed"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "wrong_algorithm",
        "message": "install and uninstall callbacks must be signed by Atlassian with RS256",
    }


# --- install keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kid", "message"),
    [
        (None, "the install token's header has no 'kid' string"),
        ("k" * 257, "the install token's 'kid' is longer than 256 characters"),
        ("../k", "the install token's 'kid' holds characters a key id never has"),
    ],
    ids=["missing", "long", "unsafe"],
)
def test_kid_refusals(kid, message):
    assert refusal(lambda: install_keys.validate_kid(kid)) == ("bad_kid", message)


KEY_SERVICE_ANSWERS = {
    "unreachable": (
        {"body": requests.ConnectionError("refused")},
        ("key_service_unavailable", "the install-key service did not answer: the install can be retried"),
        f"install-key service unreachable at {KEYS_URL}/{KID}: ConnectionError",
    ),
    "unknown kid": (
        {"status": 404},
        ("unknown_kid", f"the install-key service does not know kid {KID!r}"),
        None,
    ),
    "server error": (
        {"status": 502},
        ("key_service_unavailable", "the install-key service answered HTTP 502: the install can be retried"),
        f"install-key service answered 502 for {KEYS_URL}/{KID}",
    ),
    "not a key": (
        {"body": "<html>"},
        ("key_service_unavailable", "the install-key service did not send a PEM RSA public key"),
        f"install-key service sent something that is not a PEM RSA public key for {KEYS_URL}/{KID}",
    ),
}


@pytest.mark.parametrize("case", KEY_SERVICE_ANSWERS.values(), ids=KEY_SERVICE_ANSWERS.keys())
def test_key_service_refusals_and_their_log_lines(mocked_requests, caplog, case):
    answer, expected, log_line = case
    mocked_requests.get(f"{KEYS_URL}/{KID}", **answer)

    with caplog.at_level(logging.WARNING, logger="jira_app.install_keys"):
        assert refusal(lambda: install_keys.get_install_key(KID)) == expected
        assert [record.getMessage() for record in caplog.records] == ([log_line] if log_line else [])
        # A kid remembered as unknown is refused with the same words, without asking again.
        if expected[0] == "unknown_kid":
            assert refusal(lambda: install_keys.get_install_key(KID)) == expected


# --- lifecycle -----------------------------------------------------------------------------------------


def body(**fields) -> bytes:
    values = {"key": APP_KEY, "clientKey": "client-1", "baseUrl": "https://acme.atlassian.net", "sharedSecret": "s"}
    values.update(fields)
    return json.dumps({name: value for name, value in values.items() if value is not None}).encode()


PAYLOAD_REFUSALS = {
    "no clientKey": (body(clientKey=None), "installed", "the body has no 'clientKey'"),
    "no baseUrl": (body(baseUrl=""), "installed", "the body has no 'baseUrl'"),
    "baseUrl not http": (body(baseUrl="ftp://acme"), "installed", "'baseUrl' is not an absolute https URL"),
    "displayUrl not http": (body(displayUrl="acme"), "installed", "'displayUrl' is not an absolute https URL"),
    "baseUrl plain http": (
        body(baseUrl="http://acme.atlassian.net"),
        "installed",
        "'baseUrl' is not https",
    ),
    "other app": (body(key="other-app"), "installed", f"the body is for app 'other-app', not '{APP_KEY}'"),
    "other event": (
        body(eventType="enabled"),
        "installed",
        "eventType 'enabled' was sent to the installed callback",
    ),
    "no sharedSecret": (body(sharedSecret=None), "installed", "the body has no 'sharedSecret'"),
    "sharedSecret a number": (body(sharedSecret=12345), "installed", "the body has no 'sharedSecret'"),
    "sharedSecret a public key": (
        body(sharedSecret="-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"),
        "installed",
        "'sharedSecret' is shaped like a public key or JWK, not an HS256 key",
    ),
    "long sharedSecret": (body(sharedSecret="s" * 401), "installed", "'sharedSecret' is longer than 400 bytes"),
    "not a string": (body(productType=["jira"]), "uninstalled", "'productType' is not a string"),
    "too long": (body(productType="p" * 51), "uninstalled", "'productType' is longer than 50 characters"),
    "long eventType": (body(eventType="e" * 256), "enabled", "'eventType' is longer than 255 characters"),
    "installationId not an ARI": (
        body(installationId="not-an-ari"),
        "installed",
        "'installationId' is not a Forge installation ARI",
    ),
}


@pytest.mark.parametrize("case", PAYLOAD_REFUSALS.values(), ids=PAYLOAD_REFUSALS.keys())
def test_lifecycle_payload_refusals(case):
    payload, event, message = case

    assert refusal(lambda: lifecycle.LifecyclePayload.parse(payload, expected_event=event)) == ("bad_payload", message)


def test_an_install_from_a_host_not_allowed_names_the_host_and_the_setting(jira, site, settings):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]
    payload = lifecycle.LifecyclePayload.parse(body(baseUrl="https://evil.example"), expected_event="installed")

    assert refusal(lambda: lifecycle._require_allowed_host(payload)) == (
        "host_not_allowed",
        "'baseUrl' host 'evil.example' is not in ATLASSIAN_CONNECT_ALLOWED_HOSTS",
    )


def test_a_display_url_not_allowed_is_named_as_such(jira, site, settings):
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]
    payload = lifecycle.LifecyclePayload.parse(
        body(baseUrl="https://acme.atlassian.net", displayUrl="https://jira.acme.example"), expected_event="installed"
    )

    assert refusal(lambda: lifecycle._require_allowed_host(payload)) == (
        "host_not_allowed",
        "'displayUrl' host 'jira.acme.example' is not in ATLASSIAN_CONNECT_ALLOWED_HOSTS",
    )


@pytest.mark.django_db
def test_a_replayed_install_token_and_a_retried_one(client, install_signer, site, caplog):
    token = install_signer.token(site.client_key)
    headers = {"content_type": "application/json", "HTTP_AUTHORIZATION": f"JWT {token}"}
    original = site.lifecycle_body("installed")
    assert client.post("/jira/installed", original, **headers).status_code == 204
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="jira_app"):
        retried = client.post("/jira/installed", original, **headers)
        replayed = client.post("/jira/installed", site.lifecycle_body("installed", description="x"), **headers)

    assert retried.status_code == 204
    assert (replayed.status_code, replayed.json()["error"]) == (401, "replayed_token")
    assert [record.getMessage() for record in caplog.records if record.name.startswith("jira_app")] == [
        f"installed retried with an accepted token, client_key={site.client_key!r}: answered as before",
        "refused POST '/jira/installed': replayed_token (this signed install token was already accepted with "
        f"another body: Jira signs each callback anew) client_key={site.client_key!r}",
    ]


def test_a_body_naming_another_site_is_refused_with_both_named():
    payload = lifecycle.LifecyclePayload.parse(body(clientKey="client-2"), expected_event="uninstalled")
    token = tokens.VerifiedToken({"iss": "client-1"}, raw="")

    assert refusal(lambda: lifecycle._require_issuer_is_client_key(token, payload)) == (
        "client_key_mismatch",
        "the token's iss does not match the body's clientKey",
    )


@pytest.mark.django_db
def test_lifecycle_log_lines(jira, site, caplog):
    with caplog.at_level(logging.INFO, logger="jira_app.lifecycle"):
        assert jira.uninstalled(site).status_code == 204
        assert jira.installed(site).status_code == 204
        assert jira.toggled(site, "disabled").status_code == 204
        assert jira.toggled(site, "enabled").status_code == 204
        site.rotate()
        assert jira.installed(site).status_code == 204
        assert jira.uninstalled(site).status_code == 204

    key, url = site.client_key, site.base_url
    assert [record.getMessage() for record in caplog.records] == [
        f"uninstalled for unknown client_key={key!r}: nothing to do",
        f"Installed client_key={key!r} base_url={url}",
        f"Disabled client_key={key!r}",
        f"Enabled client_key={key!r}",
        f"reinstalled, secret rotated client_key={key!r} base_url={url}",
        f"uninstalled client_key={key!r}",
    ]


# --- webhooks ------------------------------------------------------------------------------------------


WEBHOOK = b'{"webhookEvent": "jira:issue_created"}'
JSON = "application/json"

WEBHOOK_REFUSALS = {
    "long identifier": (
        {"identifier": "i" * 256},
        "the X-Atlassian-Webhook-Identifier header is too long or not text",
    ),
    "retry not a count": ({"retry": "\u00b2"}, "the X-Atlassian-Webhook-Retry header is not a retry count"),
    "not JSON": (
        {"content_type": "text/plain"},
        "a webhook is JSON (Content-Type application/json), not 'text/plain'",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", WEBHOOK_REFUSALS.values(), ids=WEBHOOK_REFUSALS.keys())
def test_webhook_refusals(installed_site, case):
    headers, message = case
    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    arguments = {"identifier": "wh-7", "retry": "0", "content_type": JSON, **headers}

    assert refusal(lambda: webhooks.record_delivery(host, **arguments, body=WEBHOOK)) == ("bad_webhook", message)


@pytest.mark.django_db
def test_webhook_log_lines(installed_site, caplog):
    host = AtlassianHost.objects.get(client_key=installed_site.client_key)
    key = installed_site.client_key

    webhooks.record_delivery(host, identifier="wh-7", retry="0", content_type=JSON, body=WEBHOOK)
    with caplog.at_level(logging.INFO, logger="jira_app.webhooks"):
        webhooks.record_delivery(host, identifier="wh-7", retry="1", content_type=JSON, body=WEBHOOK)
        anonymous, _ = webhooks.record_delivery(host, identifier="", retry="0", content_type=JSON, body=WEBHOOK)

    assert [record.getMessage() for record in caplog.records] == [
        f"duplicate webhook wh-7 from client_key={key!r} ignored",
        f"webhook jira:issue_created from client_key={key!r} has no X-Atlassian-Webhook-Identifier: stored, but a "
        f"retry of it cannot be recognised and will be stored again (delivery id {anonymous.pk})",
    ]


@pytest.mark.django_db
def test_a_webhook_without_identifier_or_event_name_is_logged_as_such(installed_site, caplog):
    host = AtlassianHost.objects.get(client_key=installed_site.client_key)

    with caplog.at_level(logging.INFO, logger="jira_app.webhooks"):
        delivery, _ = webhooks.record_delivery(host, identifier="", retry="0", content_type=JSON, body=b"{}")

    assert [record.getMessage() for record in caplog.records] == [
        f"webhook (no webhookEvent) from client_key={installed_site.client_key!r} has no "
        "X-Atlassian-Webhook-Identifier: stored, but a retry of it cannot be recognised and will be stored again "
        f"(delivery id {delivery.pk})",
    ]


# --- the security log line of every refusal ------------------------------------------------------------


@pytest.mark.django_db
def test_the_refusal_log_line(client, caplog):
    token = host_token("client-9", SECRET, qsh_value="x")

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        response = client.get("/jira/hello.html?a=1", HTTP_AUTHORIZATION=f"JWT {token}")

    # The client is told only that the token does not verify; the log says why (here: no such site).
    assert response.json() == {
        "error": "invalid_token",
        "message": "the token does not verify: it must be signed by an installed Jira site, or by Atlassian for "
        "installs",
    }
    assert [record.getMessage() for record in caplog.records if record.name == "jira_app.security"] == [
        "refused GET '/jira/hello.html': unknown_host (the token's iss is not an installed Jira site: install "
        "the app first) client_key='client-9'"
    ]
