"""Atlassian's install-signing keys: safe kids only, fetched from the configured service, cached per kid."""

from __future__ import annotations

import base64

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from freezegun import freeze_time

from jira_app import exceptions
from jira_app.install_keys import get_install_key, key_url, validate_kid
from tests.signing import KEYS_URL

KID = "connect-install-keys/2026-11/primary"
OTHER_KID = "connect-install-keys/2026-11/secondary"


def pem_of(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def rsa_pem(atlassian_private_key) -> str:
    return pem_of(atlassian_private_key.public_key())


def fetched_urls(mocked_requests) -> list[str]:
    return [call.request.url for call in mocked_requests.calls]


# --- validate_kid --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        "0e50fccb-239d-4991-a5db-dc850ba3f236",
        "connect-install-keys/2026-11/primary",
        "a.b_c-d",
        "A",
        "x" * 256,
        "/".join(["segment"] * 32),
    ],
    ids=["uuid-like", "path-like", "punctuation", "one-char", "256-chars", "many-segments"],
)
def test_realistic_kids_are_accepted(kid):
    assert validate_kid(kid) == kid


BAD_KIDS = {
    "empty": "",
    "int": 5,
    "none": None,
    "bytes": b"abc",
    "list": ["abc"],
    "dot-dot": "..",
    "dot": ".",
    "traversal": "a/../b",
    "dot-segment": "a/./b",
    "leading-slash": "/lead",
    "double-slash": "a//b",
    "trailing-slash": "trail/",
    "query": "?",
    "kid-with-query": "key?x=1",
    "fragment": "#",
    "encoded-slash": "%2F",
    "encoded-traversal": "%2e%2e",
    "backslash": "\\",
    "backslash-traversal": "a\\..\\b",
    "at": "@",
    "userinfo": "user@evil.example",
    "colon": ":",
    "scheme": "https://evil.example/key",
    "space": "a b",
    "newline": "abc\n",
    "tab": "a\tb",
    "nul": "a\x00b",
    "delete": "a\x7fb",
    "non-ascii": "schlüssel",
    "257-chars": "x" * 257,
}


@pytest.mark.parametrize("kid", BAD_KIDS.values(), ids=BAD_KIDS.keys())
def test_bad_kids_are_refused(kid):
    with pytest.raises(exceptions.InvalidKeyId):
        validate_kid(kid)


def test_a_refused_kid_is_a_401():
    with pytest.raises(exceptions.InvalidKeyId) as excinfo:
        validate_kid("../admin")
    assert excinfo.value.status == 401
    assert excinfo.value.reason == "bad_kid"


@pytest.mark.parametrize("kid", ["a/../b", "%2F", "user@evil.example", ""])
def test_a_bad_kid_never_reaches_the_key_service(mocked_requests, kid):
    with pytest.raises(exceptions.InvalidKeyId):
        get_install_key(kid)
    assert len(mocked_requests.calls) == 0


# --- key_url -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (KEYS_URL, KEYS_URL + "/" + KID),
        (KEYS_URL + "/", KEYS_URL + "/" + KID),
        ("https://connect-install-keys.atlassian.com", "https://connect-install-keys.atlassian.com/" + KID),
        ("https://connect-install-keys.atlassian.com/", "https://connect-install-keys.atlassian.com/" + KID),
        # A path is kept whole: urljoin would have dropped "public" (no trailing slash) or the whole path.
        ("https://keys.example.test/v1/public", "https://keys.example.test/v1/public/" + KID),
        ("https://keys.example.test/v1/public/", "https://keys.example.test/v1/public/" + KID),
    ],
)
def test_key_url_appends_the_kid_to_the_configured_url(settings, configured, expected):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = configured
    assert key_url(KID) == expected


def test_key_url_of_a_simple_kid(settings):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = "https://keys.example.test/v1/public"
    assert key_url("0e50fccb-239d") == "https://keys.example.test/v1/public/0e50fccb-239d"


def test_key_url_refuses_a_bad_kid():
    with pytest.raises(exceptions.InvalidKeyId):
        key_url("../../etc/passwd")


# --- fetching and caching ------------------------------------------------------------------------------


def test_a_key_is_fetched_from_the_configured_service(mocked_requests, rsa_pem, atlassian_private_key):
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=rsa_pem)

    key = get_install_key(KID)

    assert key.public_numbers() == atlassian_private_key.public_key().public_numbers()
    assert fetched_urls(mocked_requests) == [f"{KEYS_URL}/{KID}"]


def test_a_fetched_key_is_cached_per_kid(mocked_requests, rsa_pem):
    other_pem = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=rsa_pem)
    mocked_requests.get(f"{KEYS_URL}/{OTHER_KID}", body=other_pem)

    first = get_install_key(KID)
    again = get_install_key(KID)
    assert fetched_urls(mocked_requests) == [f"{KEYS_URL}/{KID}"]
    assert again.public_numbers() == first.public_numbers()

    other = get_install_key(OTHER_KID)
    assert fetched_urls(mocked_requests) == [f"{KEYS_URL}/{KID}", f"{KEYS_URL}/{OTHER_KID}"]
    assert other.public_numbers() != first.public_numbers()


def test_an_unknown_kid_is_remembered_briefly(mocked_requests, rsa_pem):
    with freeze_time("2026-11-02 10:00:00") as clock:
        mocked_requests.get(f"{KEYS_URL}/{KID}", status=404, body="not found")

        with pytest.raises(exceptions.UnknownInstallKey):
            get_install_key(KID)
        clock.tick(30)
        with pytest.raises(exceptions.UnknownInstallKey):
            get_install_key(KID)
        assert len(mocked_requests.calls) == 1

        # Once Atlassian publishes the key, it is found a couple of minutes later.
        mocked_requests.replace("GET", f"{KEYS_URL}/{KID}", body=rsa_pem)
        clock.tick(90)
        get_install_key(KID)
        assert len(mocked_requests.calls) == 2


def test_an_unknown_kid_does_not_block_other_kids(mocked_requests, rsa_pem):
    mocked_requests.get(f"{KEYS_URL}/{KID}", status=404)
    mocked_requests.get(f"{KEYS_URL}/{OTHER_KID}", body=rsa_pem)

    with pytest.raises(exceptions.UnknownInstallKey):
        get_install_key(KID)
    get_install_key(OTHER_KID)

    assert fetched_urls(mocked_requests) == [f"{KEYS_URL}/{KID}", f"{KEYS_URL}/{OTHER_KID}"]


def ec_pem() -> str:
    return pem_of(ec.generate_private_key(ec.SECP256R1()).public_key())


def unknown_algorithm_pem() -> str:
    # A well-formed SubjectPublicKeyInfo whose algorithm OID (1.2.3.4) no library knows.
    oid = bytes([0x06, 0x03, 0x2A, 0x03, 0x04])
    algorithm = bytes([0x30, len(oid)]) + oid
    bits = bytes([0x03, 0x02, 0x00, 0x01])
    spki = bytes([0x30, len(algorithm) + len(bits)]) + algorithm + bits
    return "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode() + "\n-----END PUBLIC KEY-----\n"


BAD_ANSWERS = {
    "not-pem": lambda pem: {"body": "<html>hello</html>"},
    "empty": lambda pem: {"body": ""},
    "truncated-pem": lambda pem: {"body": pem[: len(pem) // 2]},
    "ec-key": lambda pem: {"body": ec_pem()},
    # Atlassian signs with 2048-bit RSA; a shorter key is within reach of a forger (NIST SP 800-131A: 2048 minimum).
    "rsa-1024": lambda pem: {
        "body": pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())  # noqa: S505 (the point)
    },
    "unknown-key-type": lambda pem: {"body": unknown_algorithm_pem()},
    # A valid key with padding the parser would ignore: only the size limit refuses it.
    "oversized": lambda pem: {"body": pem + "\n" * 16385},
    "server-error": lambda pem: {"status": 500, "body": pem},
    "unavailable": lambda pem: {"status": 503},
    "redirect": lambda pem: {"status": 302, "headers": {"Location": "https://evil.example/key.pem"}},
    "timeout": lambda pem: {"body": requests.exceptions.ReadTimeout("read timed out")},
    "connect-timeout": lambda pem: {"body": requests.exceptions.ConnectTimeout()},
    "connection-error": lambda pem: {"body": requests.exceptions.ConnectionError("refused")},
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_bad_answer_means_the_service_is_unavailable_and_nothing_is_cached(mocked_requests, rsa_pem, answer):
    mocked_requests.get(f"{KEYS_URL}/{KID}", **answer(rsa_pem))

    with pytest.raises(exceptions.InstallKeyServiceUnavailable) as excinfo:
        get_install_key(KID)
    assert excinfo.value.status == 503

    # Nothing was cached, neither the answer nor a negative entry: the next install fetches again and works.
    mocked_requests.replace("GET", f"{KEYS_URL}/{KID}", body=rsa_pem)
    get_install_key(KID)
    assert len(mocked_requests.calls) == 2
    assert "evil.example" not in str(fetched_urls(mocked_requests))


def test_a_timeout_follows_the_setting(mocked_requests, settings, rsa_pem):
    settings.ATLASSIAN_CONNECT_INSTALL_KEY_TIMEOUT = 1.5
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=rsa_pem)

    get_install_key(KID)

    assert mocked_requests.calls[0].request.req_kwargs["timeout"] == 1.5


def test_an_install_key_of_2047_bits_is_refused_saying_why_and_2048_accepted(mocked_requests, caplog):
    short = rsa.generate_private_key(public_exponent=65537, key_size=2047)  # noqa: S505 (the edge under test)
    mocked_requests.get(f"{KEYS_URL}/{KID}", body=pem_of(short.public_key()))

    with (
        caplog.at_level("WARNING", logger="jira_app.install_keys"),
        pytest.raises(exceptions.InstallKeyServiceUnavailable) as excinfo,
    ):
        get_install_key(KID)

    assert excinfo.value.message == "the install-key service sent an RSA key shorter than 2048 bits"
    assert [record.getMessage() for record in caplog.records] == [
        f"install-key service sent a 2047-bit RSA key for {KEYS_URL}/{KID}: refused"
    ]
    enough = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mocked_requests.replace("GET", f"{KEYS_URL}/{KID}", body=pem_of(enough.public_key()))
    assert get_install_key(KID).key_size == 2048
