"""Where the token comes from and what is read from it: the ``jwt`` parameter as QueryDict reads it,
``sub``, and the install token's ``aud``."""

from __future__ import annotations

import pytest
from django.core.exceptions import TooManyFieldsSent
from django.test import RequestFactory

from jira_app import exceptions, tokens
from jira_app.authentication import token_from_request
from tests.signing import APP_BASE_URL, host_token


def request_with_query(query: str):
    request = RequestFactory().get("/jira/hello.html")
    request.META["QUERY_STRING"] = query
    return request


# --- the jwt query parameter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "jwt=abc",
        "xdm_e=x&jwt=abc&cp=",
        "jw%74=abc",
        "%6A%77%74=abc",
        "%6awt=abc",
        "jwt=old&jw%74=abc",
        "jw%74=old&jwt=abc",
        "jwt=a%62c",
        "jwt=abc&jwtx=other&xjwt=other&jwt+=other&j%20wt=other",
    ],
)
def test_the_jwt_parameter_is_read_as_querydict_reads_it(query):
    request = request_with_query(query)

    assert token_from_request(request) == "abc" == request.GET["jwt"]


@pytest.mark.parametrize(("query", "value"), [("jwt=a+b", "a b"), ("jwt=a=b", "a=b"), ("jwt=a%3Db&x=y=z", "a=b")])
def test_the_value_is_decoded_as_in_querydict(query, value):
    request = request_with_query(query)

    assert token_from_request(request) == value == request.GET["jwt"]


@pytest.mark.parametrize("query", [None, "", "a=1", "p=\xc3\xa9"], ids=["absent", "empty", "other", "non-ascii"])
def test_a_query_without_a_token_is_no_token(query):
    request = request_with_query(query or "")
    if query is None:
        del request.META["QUERY_STRING"]

    with pytest.raises(exceptions.MissingToken):
        token_from_request(request)


def test_a_parameter_without_a_value_is_no_token():
    with pytest.raises(exceptions.MissingToken) as excinfo:
        token_from_request(request_with_query("jwt&jwt="))
    assert excinfo.value.reason == "missing_token"


def test_a_query_with_raw_non_ascii_bytes_is_decoded_by_querydict():
    # WSGI hands the query over as latin-1: "\xc3\xa9" is the UTF-8 encoding of "é".
    request = request_with_query("p=\xc3\xa9&jwt=\xc3\xa9t\xc3\xa9")

    assert token_from_request(request) == "été"


@pytest.mark.parametrize(("limit", "fields"), [(5, 5), (None, 1500)])
def test_a_query_within_the_field_limit_is_read(settings, limit, fields):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = limit
    query = "&".join([f"p{n}=x" for n in range(fields - 1)] + ["jwt=abc"])

    assert token_from_request(request_with_query(query)) == "abc"


def test_a_query_over_the_field_limit_is_refused_as_querydict_refuses_it(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join([f"p{n}=x" for n in range(5)] + ["jwt=abc"])

    with pytest.raises(TooManyFieldsSent):
        token_from_request(request_with_query(query))


@pytest.mark.django_db
def test_a_page_load_over_the_field_limit_is_a_400(settings, client, jira, site):
    assert jira.installed(site).status_code == 204
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "a=1&b=2&c=3&d=4&e=5"
    token = host_token(site.client_key, site.secret, "GET", "/jira/hello.html", query)

    assert client.get(f"/jira/hello.html?{query}&jwt={token}").status_code == 400


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("JWT abc", "abc"),
        ("jwt  abc ", "abc"),
        ("Jwt abc", "abc"),
        ("Bearer abc", "from-query"),
        ("JWT  ", "from-query"),
    ],
)
def test_the_authorization_header_comes_first(authorization, expected):
    request = request_with_query("jwt=from-query")
    request.META["HTTP_AUTHORIZATION"] = authorization

    assert token_from_request(request) == expected


# --- what the verified token says ----------------------------------------------------------------------


@pytest.mark.parametrize(("sub", "subject"), [("557058:alice", "557058:alice"), ("", None), (123, None), (None, None)])
def test_the_subject_is_a_non_empty_account_id_or_none(sub, subject):
    assert tokens.VerifiedToken({"iss": "client-1", "sub": sub}, raw="").subject == subject


def test_the_issuer_of_an_unverified_token_must_be_a_non_empty_string():
    for iss in ("", 42, None):
        token = tokens.UnverifiedToken(raw="", header={}, claims={"iss": iss})
        with pytest.raises(exceptions.InvalidClaims) as excinfo:
            token.issuer  # noqa: B018
        assert excinfo.value.reason == "bad_claims"


# --- aud on signed installs ----------------------------------------------------------------------------


@pytest.fixture
def public_key(atlassian_private_key):
    return atlassian_private_key.public_key()


def install_token(signer, aud) -> tokens.UnverifiedToken:
    return tokens.read_unverified(signer.token("client-1", aud=aud))


def installed_hashes() -> list[str]:
    return [tokens.qsh.query_string_hash("POST", "/jira/installed")]


@pytest.mark.parametrize("aud", [[APP_BASE_URL], [APP_BASE_URL + "/"], APP_BASE_URL, APP_BASE_URL + "/"])
@pytest.mark.parametrize("configured", [APP_BASE_URL, APP_BASE_URL + "/"])
def test_aud_may_carry_one_trailing_slash_either_side(install_signer, public_key, aud, configured):
    token = install_token(install_signer, aud)

    verified = tokens.verify_install_token(
        token, public_key, audience=configured, expected_qsh=installed_hashes, leeway=0
    )

    assert verified.issuer == "client-1"


@pytest.mark.parametrize("aud", [APP_BASE_URL + "//", APP_BASE_URL + "/jira", "https://evil.example", [], None])
def test_any_other_aud_is_refused(install_signer, public_key, aud):
    token = install_token(install_signer, aud)

    with pytest.raises(exceptions.InvalidClaims) as excinfo:
        tokens.verify_install_token(token, public_key, audience=APP_BASE_URL, expected_qsh=installed_hashes, leeway=0)
    assert excinfo.value.reason == "bad_claims"


@pytest.mark.parametrize("aud", ["https://app.example.test/appX", "https://app.example.test/appX/"])
def test_only_slashes_are_trimmed_from_the_base_url(install_signer, public_key, aud):
    token = install_token(install_signer, aud)

    verified = tokens.verify_install_token(
        token, public_key, audience="https://app.example.test/appX", expected_qsh=installed_hashes, leeway=0
    )

    assert verified.issuer == "client-1"
