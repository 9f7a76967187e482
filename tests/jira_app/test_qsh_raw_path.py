"""The qsh of a request as the server received it: the raw request line, form bodies, and odd queries.

None of this needs PostgreSQL: the raw request line reaches Django as RAW_URI (gunicorn) or REQUEST_URI
(uWSGI) in ``request.META``, which the test client sets like any other header.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from jira_app import qsh
from tests.signing import host_token

FORM = "application/x-www-form-urlencoded"

# --- the raw request line ------------------------------------------------------------------------------
# "/jira/%7Euser" decodes to "/jira/~user", which the minimal re-encoding leaves as "~": only the raw
# request line says the client hashed "%7E".


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"RAW_URI": "/jira/%7Euser?x=1"}, "/jira/%7Euser"),
        ({"RAW_URI": "/jira/%7Euser"}, "/jira/%7Euser"),
        ({"RAW_URI": "http://app.example.test/jira/%7Euser?x=1"}, "/jira/%7Euser"),
        ({"RAW_URI": "/jira/%7Euser?next=http://acme.example/?a"}, "/jira/%7Euser"),
        ({"RAW_URI": "/jira/%7Euser?a=1?b=2"}, "/jira/%7Euser"),
        ({"RAW_URI": "//jira/%7Euser?x=1"}, "//jira/%7Euser"),
        ({"REQUEST_URI": "/jira/%7Euser?x=1"}, "/jira/%7Euser"),
        ({"REQUEST_URI": "https://app.example.test/jira/%7Euser?x=1"}, "/jira/%7Euser"),
        ({"RAW_URI": "/jira/%7Euser?x=1", "REQUEST_URI": "/jira/%7euser?x=1"}, "/jira/%7Euser"),
        ({"RAW_URI": "", "REQUEST_URI": "/jira/%7Euser?x=1"}, "/jira/%7Euser"),
        ({}, "/jira/~user"),
    ],
    ids=[
        "gunicorn",
        "gunicorn-no-query",
        "gunicorn-absolute",
        "gunicorn-url-in-query",
        "gunicorn-two-question-marks",
        "gunicorn-double-slash",
        "uwsgi",
        "uwsgi-absolute",
        "both-gunicorn-wins",
        "empty-raw-uri",
        "neither",
    ],
)
def test_the_raw_path_is_taken_from_the_server_that_kept_it(meta, expected):
    request = RequestFactory().get("/jira/~user", **meta)

    assert qsh.raw_request_path(request) == expected


@pytest.fixture
def tenant(jira, site):
    assert jira.installed(site).status_code == 204
    return site


@pytest.mark.django_db
@pytest.mark.parametrize("server_variable", ["RAW_URI", "REQUEST_URI"])
def test_a_token_for_the_raw_path_authenticates_the_request(client, tenant, server_variable):
    token = host_token(tenant.client_key, tenant.secret, "GET", "/jira/api/%77hoami", "a=1")

    response = client.get(
        "/jira/api/whoami?a=1",
        HTTP_AUTHORIZATION=f"JWT {token}",
        **{server_variable: "/jira/api/%77hoami?a=1"},
    )

    assert response.status_code == 200


@pytest.mark.django_db
def test_a_token_for_the_decoded_path_is_refused_when_the_raw_path_differs(client, tenant):
    token = host_token(tenant.client_key, tenant.secret, "GET", "/jira/api/whoami", "a=1")

    response = client.get("/jira/api/whoami?a=1", HTTP_AUTHORIZATION=f"JWT {token}", RAW_URI="/jira/api/%77hoami?a=1")

    assert response.status_code == 401
    assert response.json()["error"] == "qsh_mismatch"


# --- form bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_form_body_joins_the_query_in_the_second_hash(method):
    request = getattr(RequestFactory(), method)("/app/jira/form?z=26&jwt=t", data="b=2&a=1", content_type=FORM)

    assert qsh.request_hashes(request, "/app") == [
        qsh.query_string_hash(method.upper(), "/jira/form", "z=26"),
        qsh.query_string_hash(method.upper(), "/jira/form", "a=1&b=2&z=26"),
    ]


@pytest.mark.parametrize("method", ["patch", "delete", "get"])
def test_only_post_and_put_forms_are_hashed_with_their_body(method):
    request = RequestFactory().generic(method.upper(), "/jira/form?z=26", data="b=2&a=1", content_type=FORM)

    assert qsh.request_hashes(request, "") == [qsh.query_string_hash(method.upper(), "/jira/form", "z=26")]


def test_an_empty_form_body_adds_no_hash():
    request = RequestFactory().post("/jira/form?z=26", data="", content_type=FORM)

    assert qsh.request_hashes(request, "") == [qsh.query_string_hash("POST", "/jira/form", "z=26")]


def test_a_form_body_without_a_query_is_hashed_alone():
    request = RequestFactory().put("/jira/form", data="b=2&a=1", content_type=FORM)

    assert qsh.request_hashes(request, "") == [
        qsh.query_string_hash("PUT", "/jira/form"),
        qsh.query_string_hash("PUT", "/jira/form", "a=1&b=2"),
    ]


def test_a_request_without_a_method_is_hashed_as_a_get():
    request = RequestFactory().get("/jira/form?z=26")
    request.method = None

    assert qsh.request_hashes(request, "") == [qsh.query_string_hash("GET", "/jira/form", "z=26")]


@pytest.mark.parametrize("position", range(3))
def test_any_acceptable_hash_matches(position):
    acceptable = [qsh.query_string_hash("POST", f"/jira/{n}") for n in range(3)]

    assert qsh.matches(acceptable[position], acceptable)


def test_nothing_matches_an_empty_list():
    assert not qsh.matches(qsh.query_string_hash("GET", "/jira"), [])


# --- queries Jira never sends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        # The library's URL parser ends a query at "#": here that hides the pair dropped ahead of it.
        ("jwt=x#y&a=1", ""),
        ("b=2&a=1#frag", "a=1&b=2"),
        ("a=1\tb&c=2", "a=1b&c=2"),
        ("b=2\r\n&a=1", "a=1&b=2"),
        ("b=2&a=1\n", "a=1&b=2"),
    ],
    ids=["hash-after-jwt", "hash", "tab", "crlf", "lf"],
)
def test_a_query_with_characters_the_url_parser_drops_is_canonicalised_whole(query, canonical):
    qsh._memoised_canonical_query.cache_clear()

    assert qsh.canonical_query(query) == canonical
    assert qsh._memoised_canonical_query.cache_info().currsize == 0


@pytest.mark.parametrize("again", ["jwt=two&xdm_e=X&cp=", "xdm_e=X&jwt&cp="])
def test_a_page_query_is_memoised_without_its_token(again):
    qsh._memoised_canonical_query.cache_clear()

    assert qsh.canonical_query("xdm_e=X&cp=&jwt=one") == "cp=&xdm_e=X"
    assert qsh.canonical_query(again) == "cp=&xdm_e=X"
    assert qsh._memoised_canonical_query.cache_info().hits == 1


def test_a_canonical_request_without_query_or_base_path():
    assert qsh.canonical_request("get", "/jira/x/") == "GET&/jira/x&"
    assert qsh.canonical_path("/jira/x/") == "/jira/x"


def test_a_query_up_to_2048_characters_is_memoised_a_longer_one_is_not():
    qsh._memoised_canonical_query.cache_clear()
    longest = "a=" + "x" * 2046

    assert qsh.canonical_query(longest + "&jwt=t") == longest
    assert qsh._memoised_canonical_query.cache_info().currsize == 1
    assert qsh.canonical_query(longest + "x") == longest + "x"
    assert qsh._memoised_canonical_query.cache_info().currsize == 1


def test_a_request_without_a_query_string_is_hashed_with_an_empty_query():
    request = RequestFactory().post("/jira/form", data="b=2&a=1", content_type=FORM)
    del request.META["QUERY_STRING"]

    assert qsh.request_hashes(request, "") == [
        qsh.query_string_hash("POST", "/jira/form"),
        qsh.query_string_hash("POST", "/jira/form", "a=1&b=2"),
    ]


@pytest.mark.parametrize(
    ("path", "base_path", "canonical"),
    [("//", "", "/"), ("/appX/x", "/appX/", "/x"), ("/app/x", "/app/", "/x"), ("/app", "/app//", "/")],
)
def test_the_base_path_and_one_trailing_slash_are_removed(path, base_path, canonical):
    assert qsh.canonical_path(path, base_path) == canonical
