"""qsh must match Jira's byte for byte: every official vector, and the cases where atlassian-jwt differs."""

from __future__ import annotations

import hashlib

import pytest
from atlassian_jwt import url_utils
from django.test import RequestFactory

from jira_app import qsh
from tests.vectors import load_qsh_vectors

VECTORS = load_qsh_vectors()
REQUEST_VECTORS = [v for v in VECTORS if v["kind"] == "request"]


@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=[v["id"] for v in REQUEST_VECTORS])
def test_canonical_request_matches_the_official_vector(vector):
    query = vector["query"]
    if vector.get("form"):
        # Vector 48: Jira hashes a form body's parameters as if they were in the query (docs/protocol.md §4).
        query = f"{query}&{vector['form']}" if query else vector["form"]

    canonical = qsh.canonical_request(vector["method"], vector["path"], query, base_path=vector["base_path"])

    assert canonical == vector["canonical"]
    assert (
        qsh.query_string_hash(vector["method"], vector["path"], query, base_path=vector["base_path"]) == vector["qsh"]
    )


def test_hash_is_sha256_hex_of_the_canonical_request():
    hash_only = next(v for v in VECTORS if v["kind"] == "hash-only")
    assert hashlib.sha256(hash_only["canonical"].encode()).hexdigest() == hash_only["qsh"]


@pytest.mark.parametrize(
    ("path", "library_says", "jira_says"),
    [
        ("/foo//", "GET&/foo&", "GET&/foo/&"),
        ("//foo", "GET&/foo&", "GET&//foo&"),
        ("/a;b&c", "GET&/a;b&c&", "GET&/a;b%26c&"),
    ],
)
def test_path_divergences_from_atlassian_jwt_are_corrected(path, library_says, jira_says):
    """The reason qsh.canonical_path exists: if the library is ever fixed, this test says so."""
    assert url_utils.canonicalize_request("GET", path) == library_says
    assert qsh.canonical_request("GET", path) == jira_says


@pytest.mark.parametrize(
    ("path", "base_path", "expected"),
    [
        ("/base/test", "/base", "/test"),
        ("/base", "/base", "/"),
        ("/basement/x", "/base", "/basement/x"),
        ("", "", "/"),
        ("/", "", "/"),
        ("/x/", "/base/", "/x"),
    ],
)
def test_canonical_path_is_relative_to_the_base_path(path, base_path, expected):
    assert qsh.canonical_path(path, base_path) == expected


def test_jwt_parameter_is_never_hashed():
    assert qsh.canonical_query("b=2&jwt=abc.def.ghi&a=1") == "a=1&b=2"


def test_django_request_is_hashed_as_received():
    request = RequestFactory().get("/jira/hello.html?xdm_e=https%3A%2F%2Facme.atlassian.net&cp=&jwt=t&a=b+c")
    expected = qsh.query_string_hash("GET", "/jira/hello.html", "xdm_e=https%3A%2F%2Facme.atlassian.net&cp=&a=b%20c")

    assert qsh.request_hashes(request, "") == [expected]


def test_raw_request_line_is_preferred_when_the_server_keeps_it():
    # gunicorn passes the undecoded path in RAW_URI; WSGI's PATH_INFO is already decoded.
    request = RequestFactory().get("/jira/a b", RAW_URI="/jira/a%20b?x=1")
    assert qsh.raw_request_path(request) == "/jira/a%20b"
    absolute = RequestFactory().get("/jira/p", RAW_URI="http://app.example.test/jira/p?x=1")
    assert qsh.raw_request_path(absolute) == "/jira/p"


def test_decoded_path_is_reencoded_minimally():
    request = RequestFactory().get("/jira/path!$&'()*+,;=-._~")
    assert qsh.raw_request_path(request) == "/jira/path!$&'()*+,;=-._~"


def test_form_post_may_be_hashed_with_or_without_its_body():
    request = RequestFactory().post("/hello-world", data="b=2&a=1", content_type="application/x-www-form-urlencoded")
    assert qsh.request_hashes(request, "") == [
        qsh.query_string_hash("POST", "/hello-world"),
        qsh.query_string_hash("POST", "/hello-world", "a=1&b=2"),
    ]


def test_json_post_is_hashed_without_its_body():
    request = RequestFactory().post("/jira/installed", data=b'{"a": "b"}', content_type="application/json")
    assert qsh.request_hashes(request, "") == [qsh.query_string_hash("POST", "/jira/installed")]


def test_matches_is_exact():
    value = qsh.query_string_hash("GET", "/x")
    assert qsh.matches(value, [value])
    assert not qsh.matches(value[:-1], [value])
    assert not qsh.matches(value.upper(), [value])
    assert not qsh.matches("", [value])
