"""Token verification: fixed algorithms, required claims, and the documented leeway on expiry."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from freezegun import freeze_time

from jira_app import exceptions, tokens
from jira_app.crypto import Secret
from tests.signing import host_token

SECRET = "ATCO-test-secret-" + "0123456789abcdef" * 4
EXPECTED = ["expected-qsh"]


def verify(token: str, *, leeway: int = 30, allow_context: bool = False):
    return tokens.verify_host_token(
        tokens.read_unverified(token),
        Secret(SECRET),
        expected_qsh=lambda: EXPECTED,
        allow_context=allow_context,
        leeway=leeway,
    )


def test_a_valid_token_yields_its_issuer_and_subject():
    verified = verify(host_token("client-1", SECRET, qsh_value="expected-qsh", sub="557058:carol"))
    assert verified.issuer == "client-1"
    assert verified.subject == "557058:carol"
    assert not verified.is_context_token


def test_expired_within_the_leeway_is_accepted_beyond_it_refused():
    with freeze_time("2026-11-29 12:00:00"):
        token = host_token("client-1", SECRET, qsh_value="expected-qsh", lifetime=180)
    with freeze_time("2026-11-29 12:03:20"):  # 20 s after exp
        assert verify(token, leeway=30).issuer == "client-1"
    with freeze_time("2026-11-29 12:03:40"), pytest.raises(exceptions.ExpiredToken, match="leeway 30 s"):
        verify(token, leeway=30)  # 40 s after exp


def test_issued_in_the_future_beyond_the_leeway_is_refused():
    now = int(time.time())
    token = host_token("client-1", SECRET, qsh_value="expected-qsh", iat=now + 600, exp=now + 900)
    with pytest.raises(exceptions.InvalidClaims, match="not valid yet"):
        verify(token)


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "qsh"])
def test_each_required_claim_is_required(claim):
    token = host_token("client-1", SECRET, qsh_value="expected-qsh", **{claim: None})
    with pytest.raises(exceptions.InvalidClaims) as excinfo:
        verify(token)
    assert excinfo.value.reason == "bad_claims"
    assert f"'{claim}'" in excinfo.value.message


def test_the_algorithm_is_never_taken_from_the_header():
    now = int(time.time())
    claims = {"iss": "client-1", "iat": now, "exp": now + 60, "qsh": "expected-qsh"}
    for algorithm in ("HS384", "HS512"):
        with pytest.raises(exceptions.WrongAlgorithm):
            verify(jwt.encode(claims, SECRET, algorithm=algorithm))


def test_an_undocumented_aud_on_a_tenant_token_is_tolerated():
    token = host_token("client-1", SECRET, qsh_value="expected-qsh", aud=["client-1"])
    assert verify(token).issuer == "client-1"


def test_context_tokens_only_where_allowed():
    token = host_token("client-1", SECRET, qsh_value="context-qsh")
    assert verify(token, allow_context=True).is_context_token
    with pytest.raises(exceptions.ContextTokenRefused):
        verify(token)


@pytest.mark.parametrize("value", [123, None, ["expected-qsh"], {"a": 1}])
def test_a_qsh_that_is_not_a_string_is_refused(value):
    token = host_token("client-1", SECRET, qsh_value="placeholder", qsh=value)
    with pytest.raises(exceptions.AuthenticationFailed):
        verify(token)


@pytest.mark.parametrize("raw", ["", "a", "a.b", "a.b.c.d", "!!!.???.###", "e30.W10.sig", "x" * 8193])
def test_garbage_is_malformed_not_a_crash(raw):
    with pytest.raises(exceptions.MalformedToken):
        tokens.read_unverified(raw)


@pytest.mark.parametrize("iss", [None, "", 5, ["a"]])
def test_an_unusable_iss_is_refused_before_any_lookup(iss):
    claims = base64.urlsafe_b64encode(json.dumps({"iss": iss, "qsh": "q"}).encode()).rstrip(b"=").decode()
    token = tokens.read_unverified(f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
    with pytest.raises(exceptions.InvalidClaims):
        _ = token.issuer
