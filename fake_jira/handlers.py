"""Jira-shaped HTTP, framework-free: the install-key service and the REST endpoints a Connect app calls.

Each handler takes a ``messages.Request`` and returns a ``messages.Response``; the ``responses`` router and
the HTTP server both reach them through ``urls.dispatch``. Faults are raised as ``JiraApiError`` and turned
into Jira's error shape in one place, ``error_response``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from fake_jira import representations, tokens
from fake_jira.exceptions import BadRequest, JiraApiError, NotFound, Unauthorized
from fake_jira.keys import InstallKeyService
from fake_jira.messages import Request, Response
from fake_jira.models import Installation, Site

# Jira's paging defaults for /project/search: 50 per page, at most 100.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def error_response(error: JiraApiError) -> Response:
    headers = {"WWW-Authenticate": 'JWT realm="Jira"'} if isinstance(error, Unauthorized) else {}
    return Response.from_json(error.status, {"errorMessages": [str(error)], "errors": {}}, headers)


def install_key(keys: InstallKeyService, kid: str) -> Response:
    """``GET <keys-url>/<kid>``: the PEM public key, or 404 for a kid the service does not know."""
    pem = keys.public_pem(kid)
    if pem is None:
        raise NotFound(f"no install key with kid {kid!r}")
    return Response.from_text(200, pem, content_type="application/x-pem-file")


def authenticate(site: Site, request: Request) -> Installation:
    """Check the app's JWT as Jira does (docs/protocol.md §6) and return the installation it speaks for."""
    token = tokens.token_from_authorization(request.headers.get("Authorization"))
    issuer = tokens.unverified_claims(token).get("iss")
    installation = site.installation(issuer) if isinstance(issuer, str) else None
    if installation is None or not installation.installed:
        raise Unauthorized(f"the JWT's iss {issuer!r} is not the key of an app installed on this site")
    if not installation.enabled:
        raise Unauthorized(f"the app {issuer!r} is disabled on this site")
    expected = tokens.query_string_hash(request.method, request.path, request.query, base_path=site.base_path)
    try:
        tokens.verify_app_token(token, installation.shared_secret, expected_qsh=expected)
    except Unauthorized:
        if any(tokens.signed_with(token, old) for old in installation.previous_secrets):
            raise Unauthorized(
                "the JWT is signed with a sharedSecret this site has since rotated: "
                "use the one from the latest 'installed' callback"
            ) from None
        raise
    return installation


@dataclass(frozen=True)
class AppCall:
    """An authenticated REST call: the site, the installation whose token it carried, the path parameters."""

    site: Site
    installation: Installation
    request: Request
    params: Mapping[str, str]


def myself(call: AppCall) -> Response:
    """``GET /rest/api/3/myself``: a Connect app's calls act as its app user."""
    return Response.from_json(200, representations.user_json(call.site, call.installation.app_user))


def _int_param(query: Mapping[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer, got {raw!r}") from None
    if value < 0:
        raise BadRequest(f"'{name}' must not be negative, got {value}")
    return value


def search_projects(call: AppCall) -> Response:
    """``GET /rest/api/3/project/search``: projects by key, one page at a time."""
    query = parse_qs(call.request.query)
    start_at = _int_param(query, "startAt", 0)
    max_results = min(_int_param(query, "maxResults", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    projects = sorted(call.site.projects.values(), key=lambda project: project.key)
    page = projects[start_at : start_at + max_results]
    is_last = start_at + len(page) >= len(projects)
    base = f"{call.site.base_url}/rest/api/3/project/search"
    body = {
        "self": f"{base}?startAt={start_at}&maxResults={max_results}",
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(projects),
        "isLast": is_last,
        "values": [representations.project_json(call.site, project) for project in page],
    }
    if not is_last:
        body["nextPage"] = f"{base}?startAt={start_at + len(page)}&maxResults={max_results}"
    return Response.from_json(200, body)


def get_issue(call: AppCall) -> Response:
    """``GET /rest/api/3/issue/{issueIdOrKey}``."""
    issue = call.site.find_issue(call.params["id_or_key"])
    if issue is None:
        raise NotFound("Issue does not exist or you do not have permission to see it.")
    return Response.from_json(200, representations.issue_json(call.site, issue))
