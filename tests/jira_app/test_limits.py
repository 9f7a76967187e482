"""Every size limit at its exact edge: the largest value accepted and the smallest refused.

The numbers are written out, not derived from the constants, so that a changed limit fails here and is a
decision rather than an accident. On PostgreSQL the accepted edges also prove that each column holds them.
"""

from __future__ import annotations

import json
import logging

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.test import RequestFactory

from jira_app import exceptions, install_keys, tokens
from jira_app.middleware import refuse
from jira_app.models import AtlassianHost, WebhookDelivery
from tests.signing import KEYS_URL, Site, host_token

KID = "connect-install-keys/2026-11/primary"
SIGNING_SECRET = "ATCO-limits-" + "0123456789abcdef" * 2


def padded(make_body, size: int) -> bytes:
    """``make_body(padding)`` grown with an ignored field to exactly ``size`` bytes."""
    pad = size - len(make_body(""))
    body = make_body("x" * pad)
    assert len(body) == size
    return body


# --- tokens --------------------------------------------------------------------------------------------


def token_of_length(length: int) -> str:
    # read_unverified does not check the signature: the third segment pads the token to its length.
    head = jwt.encode({"iss": "client-1"}, SIGNING_SECRET, algorithm="HS256").rsplit(".", 1)[0]
    return head + "." + "s" * (length - len(head) - 1)


def test_a_token_of_8192_characters_is_read():
    assert tokens.read_unverified(token_of_length(8192)).issuer == "client-1"


def test_a_token_of_8193_characters_is_refused():
    with pytest.raises(exceptions.MalformedToken) as excinfo:
        tokens.read_unverified(token_of_length(8193))
    assert excinfo.value.reason == "malformed_token"


# --- install keys --------------------------------------------------------------------------------------


def test_a_kid_of_256_characters_is_accepted_257_refused():
    assert install_keys.validate_kid("k" * 256) == "k" * 256
    with pytest.raises(exceptions.InvalidKeyId) as excinfo:
        install_keys.validate_kid("k" * 257)
    assert excinfo.value.reason == "bad_kid"


@pytest.fixture
def rsa_pem(atlassian_private_key) -> str:
    public_key = atlassian_private_key.public_key()
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_a_key_answer_of_16384_bytes_is_accepted(mocked_requests, rsa_pem, atlassian_private_key):
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=rsa_pem + "\n" * (16384 - len(rsa_pem)))

    key = install_keys.get_install_key(KID)

    assert key.public_numbers() == atlassian_private_key.public_key().public_numbers()


def test_a_key_answer_of_16385_bytes_is_refused(mocked_requests, rsa_pem):
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=rsa_pem + "\n" * (16385 - len(rsa_pem)))

    with pytest.raises(exceptions.InstallKeyServiceUnavailable) as excinfo:
        install_keys.get_install_key(KID)
    assert excinfo.value.reason == "key_service_unavailable"


# --- lifecycle payloads --------------------------------------------------------------------------------


def refusal(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["error"]


@pytest.mark.django_db
def test_an_install_body_of_65536_bytes_is_accepted(jira, site):
    body = padded(lambda pad: site.lifecycle_body("installed", padding=pad), 65536)

    assert jira.installed(site, padding=json.loads(body)["padding"]).status_code == 204


@pytest.mark.django_db
def test_an_install_body_of_65537_bytes_is_refused(jira, site):
    body = padded(lambda pad: site.lifecycle_body("installed", padding=pad), 65537)

    assert refusal(jira.installed(site, padding=json.loads(body)["padding"])) == "bad_payload"
    assert not AtlassianHost.objects.exists()


FIELD_EDGES = {
    "description": 10_000,
    "productType": 50,
    "oauthClientId": 255,
    "serviceEntitlementNumber": 255,
}


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "longest"), FIELD_EDGES.items(), ids=FIELD_EDGES.keys())
def test_a_field_at_its_length_limit_is_stored(jira, site, field, longest):
    assert jira.installed(site, **{field: "f" * longest}).status_code == 204

    assert AtlassianHost.objects.filter(client_key=site.client_key).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "shortest_refused"), [(f, n + 1) for f, n in FIELD_EDGES.items()], ids=FIELD_EDGES)
def test_a_field_over_its_length_limit_is_refused(jira, site, field, shortest_refused):
    assert refusal(jira.installed(site, **{field: "f" * shortest_refused})) == "bad_payload"

    assert not AtlassianHost.objects.exists()


@pytest.mark.django_db
def test_a_client_key_of_255_characters_is_stored_256_refused(jira):
    longest = Site("longest", client_key="c" * 255)
    assert jira.installed(longest).status_code == 204
    assert AtlassianHost.objects.get().client_key == "c" * 255

    assert refusal(jira.installed(Site("over", client_key="c" * 256))) == "bad_payload"


def url_of_length(length: int) -> str:
    prefix = "https://"
    suffix = ".atlassian.net"
    # A DNS label holds at most 63 characters: a dot every 63rd character keeps the host a valid name.
    host = "".join("." if position % 63 == 62 else "a" for position in range(length - len(prefix) - len(suffix)))
    url = prefix + host + suffix
    assert len(url) == length
    return url


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["baseUrl", "displayUrl"])
def test_a_url_of_255_characters_is_stored_256_refused(jira, site, field):
    assert jira.installed(site, **{field: url_of_length(255)}).status_code == 204

    assert refusal(jira.installed(Site("other"), **{field: url_of_length(256)})) == "bad_payload"


@pytest.mark.django_db
@pytest.mark.parametrize("secret", ["s" * 400, "é" * 200], ids=["ascii", "two-byte"])
def test_a_shared_secret_of_400_bytes_is_stored(jira, secret):
    site = Site("acme", secret=secret)
    assert jira.installed(site).status_code == 204

    assert AtlassianHost.objects.get().shared_secret.reveal() == secret


@pytest.mark.django_db
@pytest.mark.parametrize("secret", ["s" * 401, "é" * 200 + "s"], ids=["ascii", "two-byte"])
def test_a_shared_secret_of_401_bytes_is_refused(jira, secret):
    assert refusal(jira.installed(Site("acme", secret=secret))) == "bad_payload"

    assert not AtlassianHost.objects.exists()


# --- webhooks ------------------------------------------------------------------------------------------


def webhook_body(pad: str) -> bytes:
    return json.dumps({"webhookEvent": "jira:issue_created", "padding": pad}).encode()


@pytest.mark.django_db
def test_a_webhook_of_1048576_bytes_is_kept(jira, installed_site):
    response = jira.webhook(installed_site, body=padded(webhook_body, 1_048_576))

    assert response.status_code == 204
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_a_webhook_of_1048577_bytes_is_refused(jira, installed_site):
    response = jira.webhook(installed_site, body=padded(webhook_body, 1_048_577))

    assert refusal(response) == "bad_webhook"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_webhook_identifier_of_255_characters_is_kept_256_refused(jira, installed_site):
    assert jira.webhook(installed_site, identifier="i" * 255).status_code == 204
    assert WebhookDelivery.objects.get().identifier == "i" * 255

    assert refusal(jira.webhook(installed_site, identifier="i" * 256)) == "bad_webhook"
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("retry", "count"), [("999999", 999_999), ("", 0), ("0", 0), ("2", 2)])
def test_the_retry_count_is_kept_up_to_six_digits(jira, installed_site, retry, count):
    assert jira.webhook(installed_site, retry=retry).status_code == 204

    assert WebhookDelivery.objects.get().retry_count == count


@pytest.mark.django_db
@pytest.mark.parametrize("retry", ["1000000", "-1", "+1", " 1", "\u00b2", "1.0"])
def test_a_retry_header_of_seven_digits_or_not_ascii_digits_is_refused(jira, installed_site, retry):
    assert refusal(jira.webhook(installed_site, retry=retry)) == "bad_webhook"

    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_an_event_name_is_kept_to_100_characters(jira, installed_site):
    body = json.dumps({"webhookEvent": "e" * 99 + "fg"}).encode()

    assert jira.webhook(installed_site, body=body).status_code == 204

    assert WebhookDelivery.objects.get().event == "e" * 99 + "f"


# --- log lines -----------------------------------------------------------------------------------------


def test_a_refusal_logs_at_most_100_characters_of_the_path_and_the_client_key(caplog):
    iss = "k" * 99 + "KK"
    token = host_token(iss, SIGNING_SECRET)
    request = RequestFactory().get("/" + "p" * 98 + "PP", HTTP_AUTHORIZATION=f"JWT {token}")

    with caplog.at_level(logging.WARNING, logger="jira_app.security"):
        refuse(request, exceptions.QshMismatch("the token's qsh is bound to another method, path or query"))

    (record,) = caplog.records
    message = record.getMessage()
    assert "'/" + "p" * 98 + "P'" in message
    assert "PP" not in message
    assert "client_key='" + "k" * 99 + "K'" in message
    assert "KK" not in message
    assert "qsh_mismatch" in message
