"""The query string hash (``qsh``): canonical request and its SHA-256, as Jira computes them.

Rules: docs/protocol.md §4 (Atlassian's Java ``HttpRequestCanonicalizer``). The query part comes from
``atlassian_jwt.url_utils``, which matches every official vector. Its path handling does not: it strips every
leading and trailing ``/`` (``/foo//`` becomes ``/foo`` where Jira says ``/foo/``) and splits off
``;params`` before escaping ``&``. So the path is canonicalised here, and only here.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

from atlassian_jwt import url_utils
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest

CONTEXT_QSH = "context-qsh"

# RFC 3986 pchar: what may stand unencoded in a path. Used only when the server hides the raw request line.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def canonical_path(path: str, base_path: str = "") -> str:
    """The path relative to ``base_path``, one trailing ``/`` removed, ``&`` escaped (docs/protocol.md §4, step 2)."""
    base_path = base_path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/"):
        path = "/" + path
    return path.replace("&", "%26")


def canonical_query(query_string: str) -> str:
    """Parameters decoded, ``jwt`` dropped, re-encoded, repeated values joined, sorted (docs/protocol.md §4, step 3)."""
    if not query_string:
        return ""
    if any(character in query_string for character in _URLSPLIT_SPECIAL):
        return _library_canonical_query(query_string)
    # Each token is new, but the rest of a page's query (Jira's context parameters) repeats from one load to
    # the next: drop the token's own parameter first, and the remainder's canonical form is usually known.
    # The library drops every "jwt" parameter anyway, and splits pairs on "&" alone, so this changes nothing.
    rest = "&".join(pair for pair in query_string.split("&") if pair != "jwt" and not pair.startswith("jwt="))
    if len(rest) > _MAX_MEMOISED_LENGTH:
        return _library_canonical_query(rest)
    return _memoised_canonical_query(rest)


# The library parses "/?<query>" with urlparse, which drops tab, CR and LF and ends the query at "#": such a
# query is left to it whole (Jira never sends one), so that the memoised path never has to mimic that.
_URLSPLIT_SPECIAL = "#\t\r\n"
# A form body may join the query: memoise only what a page's query looks like, so that a tenant's odd
# requests cannot fill memory (at most 1024 entries of this size).
_MAX_MEMOISED_LENGTH = 2048


def _library_canonical_query(query_string: str) -> str:
    # Given the root path, the library's canonical request is "GET&/&<query>": keep the query only.
    canonical: str = url_utils.canonicalize_request("GET", "/?" + query_string).split("&", 2)[2]
    return _sorted_as_java(canonical) if _ASTRAL_UTF8_LEAD in canonical else canonical


# The library sorts a parameter's repeated values by code point; Jira's Java sorts them by UTF-16 code unit.
# The two orders differ only between a character beyond U+FFFF (a surrogate pair, D800-DBFF first) and one in
# U+E000-U+FFFF, so only a query holding the former (percent-encoded: a UTF-8 lead byte F0-F4) is re-sorted.
_ASTRAL_UTF8_LEAD = "%F"


def _sorted_as_java(canonical: str) -> str:
    entries = []
    for entry in canonical.split("&"):
        name, _, values = entry.partition("=")
        # Values are percent-encoded, "," included: splitting on "," cannot cut one.
        ordered = sorted(values.split(","), key=lambda value: unquote(value).encode("utf-16-be"))
        entries.append(f"{name}={','.join(ordered)}")
    return "&".join(entries)


# Pure in its argument; 1024 distinct page queries (tenants x pages x users) per process before any is re-parsed.
_memoised_canonical_query = lru_cache(maxsize=1024)(_library_canonical_query)


def canonical_request(method: str, path: str, query_string: str = "", *, base_path: str = "") -> str:
    return f"{method.upper()}&{canonical_path(path, base_path)}&{canonical_query(query_string)}"


def query_string_hash(method: str, path: str, query_string: str = "", *, base_path: str = "") -> str:
    """The ``qsh`` claim for a request: lower-case hex SHA-256 of its canonical form."""
    canonical = canonical_request(method, path, query_string, base_path=base_path)
    return hashlib.sha256(canonical.encode()).hexdigest()


def qsh_for_url(method: str, url: str, base_url: str) -> str:
    """The ``qsh`` of an outgoing request to ``url``, relative to the product's ``base_url``."""
    parts = urlsplit(url)
    return query_string_hash(method, parts.path, parts.query, base_path=urlsplit(base_url).path)


def raw_request_path(request: HttpRequest) -> str:
    """The path as the client sent it, still percent-encoded, as Jira hashed it.

    WSGI decodes PATH_INFO; gunicorn (RAW_URI) and uWSGI (REQUEST_URI) keep the raw request line. Elsewhere
    (runserver, the test client) the decoded path is re-encoded minimally, which is what Jira sends.
    """
    raw: str = request.META.get("RAW_URI") or request.META.get("REQUEST_URI") or ""
    if raw:
        return urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0]
    return quote(request.path, safe=_PATH_SAFE)


def request_hashes(request: HttpRequest, base_path: str) -> list[str]:
    """Every ``qsh`` the request may legitimately carry: from its query, and for form POSTs also with the body.

    Jira's Java code reads parameters from the servlet parameter map, which merges a form body into the
    query (docs/protocol.md §4; vectors js-48 and js-49), so a form POST may be hashed either way.

    Hashing costs time in proportion to the number of fields, so a request with more than Django's
    DATA_UPLOAD_MAX_NUMBER_FIELDS is refused (400) before it is hashed, as ``request.GET``/``request.POST``
    would refuse it; a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused by ``request.body``.
    """
    method = request.method or "GET"
    path = raw_request_path(request)
    query = request.META.get("QUERY_STRING", "")
    _check_field_count(query)
    hashes = [query_string_hash(method, path, query, base_path=base_path)]
    if request.content_type == _FORM_CONTENT_TYPE and method in ("POST", "PUT"):
        body = request.body.decode("latin-1")
        if body:
            merged = f"{query}&{body}" if query else body
            _check_field_count(merged)
            hashes.append(query_string_hash(method, path, merged, base_path=base_path))
    return hashes


def _check_field_count(query: str) -> None:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is not None and query.count("&") >= limit:
        raise TooManyFieldsSent("The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.")


def matches(claimed: str, expected: list[str]) -> bool:
    """Constant-time comparison of a claimed ``qsh`` with each acceptable value."""
    if not claimed.isascii():  # a hash is hex: anything else matches nothing (and compare_digest takes ASCII only)
        return False
    found = False
    for value in expected:
        found |= hmac.compare_digest(claimed.encode(), value.encode())
    return found
