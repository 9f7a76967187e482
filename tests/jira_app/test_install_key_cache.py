"""How long an install key, or the absence of one, is remembered; and that only RSA keys are used."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from freezegun import freeze_time

from jira_app import exceptions, install_keys, tokens
from jira_app.install_keys import get_install_key
from tests.signing import KEYS_URL

KID = "connect-install-keys/2026-11/primary"
URL = f"{KEYS_URL}/{KID}"


def pem_of(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def rsa_pem(atlassian_private_key) -> str:
    return pem_of(atlassian_private_key.public_key())


@pytest.mark.parametrize("lifetime", [120, 3600])
def test_a_key_is_kept_for_the_configured_lifetime_then_fetched_again(mocked_requests, settings, rsa_pem, lifetime):
    settings.ATLASSIAN_CONNECT_INSTALL_KEY_CACHE_SECONDS = lifetime
    mocked_requests.get(URL, body=rsa_pem)

    with freeze_time("2026-11-30 10:00:00") as clock:
        get_install_key(KID)
        clock.tick(lifetime - 1)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 1
        clock.tick(1)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 2


def test_a_key_is_kept_for_a_day_by_default(mocked_requests, rsa_pem):
    mocked_requests.get(URL, body=rsa_pem)

    with freeze_time("2026-11-30 10:00:00") as clock:
        get_install_key(KID)
        clock.tick(86_399)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 1
        clock.tick(1)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 2


def test_an_unknown_kid_is_remembered_for_exactly_a_minute(mocked_requests, rsa_pem):
    mocked_requests.get(URL, status=404)

    with freeze_time("2026-11-30 10:00:00") as clock:
        with pytest.raises(exceptions.UnknownInstallKey) as excinfo:
            get_install_key(KID)
        assert excinfo.value.reason == "unknown_kid"
        clock.tick(59)
        with pytest.raises(exceptions.UnknownInstallKey):
            get_install_key(KID)
        assert len(mocked_requests.calls) == 1

        mocked_requests.replace("GET", URL, body=rsa_pem)
        clock.tick(1)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 2


@pytest.mark.parametrize(
    "public_key",
    [ec.generate_private_key(ec.SECP256R1()).public_key(), ed25519.Ed25519PrivateKey.generate().public_key()],
    ids=["ec", "ed25519"],
)
def test_a_key_that_is_not_rsa_is_never_used(mocked_requests, public_key):
    mocked_requests.get(URL, body=pem_of(public_key))

    with pytest.raises(ValueError, match="RSA"):
        tokens.load_public_key(pem_of(public_key))
    with pytest.raises(exceptions.InstallKeyServiceUnavailable) as excinfo:
        get_install_key(KID)
    assert excinfo.value.reason == "key_service_unavailable"


def test_only_slashes_are_trimmed_from_the_key_service_url(settings):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = "https://keys.example.test/X/"

    assert install_keys.key_url("kid-X") == "https://keys.example.test/X/kid-X"
