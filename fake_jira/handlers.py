"""Jira-shaped HTTP, framework-free: the install-key service and the REST endpoints a Connect app calls.

Each handler takes a ``messages.Request`` and returns a ``messages.Response``; the ``responses`` router and
the HTTP server both reach them through ``urls.dispatch``. Faults are raised as ``JiraApiError`` and turned
into Jira's error shape in one place, ``error_response``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fake_jira import jql, representations, tokens
from fake_jira.exceptions import BadRequest, Forbidden, JiraApiError, NotFound, Unauthorized
from fake_jira.keys import InstallKeyService
from fake_jira.messages import Request, Response
from fake_jira.models import Installation, Issue, Site

# Jira's paging defaults for /project/search and /users/search: 50 per page, at most 100.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# Jira's limits on app properties: the key's length and the JSON value's size.
MAX_PROPERTY_KEY_CHARS = 127
MAX_PROPERTY_VALUE_BYTES = 32 * 1024


def error_response(error: JiraApiError) -> Response:
    headers = {"WWW-Authenticate": 'JWT realm="Jira"'} if isinstance(error, Unauthorized) else {}
    messages = [str(error)] if str(error) else []
    return Response.from_json(error.status, {"errorMessages": messages, "errors": error.errors}, headers)


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
    return Response.from_json(200, representations.issue_json(call.site, _issue(call)))


def _json_body(call: AppCall) -> Any:
    try:
        return json.loads(call.request.body or b"null")
    except ValueError:
        raise BadRequest("the body is not JSON") from None


def _page(call: AppCall) -> tuple[int, int]:
    query = parse_qs(call.request.query)
    return _int_param(query, "startAt", 0), min(_int_param(query, "maxResults", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)


# --- Users and projects -----------------------------------------------------------------------------------


def get_user(call: AppCall) -> Response:
    """``GET /rest/api/3/user?accountId=...``: a user of the site (an app's user too)."""
    account_id = parse_qs(call.request.query).get("accountId", [""])[-1]
    if not account_id:
        raise BadRequest("the 'accountId' parameter is required")
    user = call.site.find_user(account_id)
    if user is None:
        raise NotFound("Specified user does not exist or you do not have required permissions")
    return Response.from_json(200, representations.user_json(call.site, user))


def search_users(call: AppCall) -> Response:
    """``GET /rest/api/3/users/search``: the site's users, a page at a time (a plain list, as Jira's)."""
    start_at, max_results = _page(call)
    users = call.site.users[start_at : start_at + max_results]
    return Response.from_json(200, [representations.user_json(call.site, user) for user in users])


def get_project(call: AppCall) -> Response:
    """``GET /rest/api/3/project/{projectIdOrKey}``."""
    wanted = call.params["id_or_key"]
    project = next((p for p in call.site.projects.values() if wanted in (p.key, p.id)), None)
    if project is None:
        raise NotFound(f"No project could be found with key '{wanted}'.")
    return Response.from_json(200, representations.project_json(call.site, project))


# --- Issues -----------------------------------------------------------------------------------------------


def _fields(body: Any) -> Mapping[str, Any]:
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        raise BadRequest('the body must be a JSON object with \'fields\', like {"fields": {"summary": "..."}}')
    return fields


def _summary(fields: Mapping[str, Any]) -> str:
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise BadRequest(errors={"summary": "You must specify a summary of the issue."})
    if len(summary) > 255:
        raise BadRequest(errors={"summary": "Summary must be less than 255 characters."})
    return summary


def create_issue(call: AppCall) -> Response:
    """``POST /rest/api/3/issue`` with ``{"fields": {"project": {"key": ...}, "summary": ..., "issuetype":
    {"name": "Task"}}}``: 201 with the new issue's id, key and self; the app's user is its reporter."""
    fields = _fields(_json_body(call))
    project_ref = fields.get("project")
    wanted = project_ref.get("key") or project_ref.get("id") if isinstance(project_ref, dict) else None
    project = next((p for p in call.site.projects.values() if wanted in (p.key, p.id)), None)
    errors = {} if project is not None else {"project": "Specify a valid project ID or key"}
    issue_type = fields.get("issuetype", {"name": "Task"})
    if not isinstance(issue_type, dict) or issue_type.get("name", "Task") != "Task":
        errors["issuetype"] = "Specify a valid issue type: fake_jira has 'Task'"
    summary = _summary(fields)
    if errors or project is None:
        raise BadRequest(errors=errors)
    issue = call.site.add_issue(project.key, summary, reporter=call.installation.app_user)
    return Response.from_json(
        201, {"id": issue.id, "key": issue.key, "self": f"{call.site.base_url}/rest/api/3/issue/{issue.id}"}
    )


def _issue(call: AppCall) -> Issue:
    issue = call.site.find_issue(call.params["id_or_key"])
    if issue is None:
        raise NotFound("Issue does not exist or you do not have permission to see it.")
    return issue


def edit_issue(call: AppCall) -> Response:
    """``PUT /rest/api/3/issue/{issueIdOrKey}`` with ``{"fields": {"summary": ...}}``: 204. Only the summary
    is editable; any other field is refused as Jira refuses a field that is not on the edit screen."""
    issue = _issue(call)
    fields = _fields(_json_body(call))
    unknown = {
        name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        for name in fields
        if name != "summary"
    }
    if unknown:
        raise BadRequest(errors=unknown)
    call.site.update_issue(issue, summary=_summary(fields))
    return Response(204)


def search_issues(call: AppCall) -> Response:
    """``GET`` or ``POST /rest/api/3/search/jql``: issues matching a query in fake_jira's JQL subset (see
    fake_jira.jql), a page at a time: ``maxResults`` (50, at most 100) and the ``nextPageToken`` of the last
    page. ``fields`` is accepted and ignored: every issue comes with all its fields."""
    if call.request.method == "POST":
        request = _json_body(call)
        if not isinstance(request, dict):
            raise BadRequest("the body must be a JSON object with 'jql'")
        names = ("jql", "maxResults", "nextPageToken")
        params = {name: [str(value)] for name, value in request.items() if name in names}
    else:
        params = parse_qs(call.request.query)
    query = jql.parse(params.get("jql", [""])[-1])
    max_results = min(_int_param(params, "maxResults", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    start_at = _int_param(params, "nextPageToken", 0)
    found = jql.search(query, list(call.site.issues.values()), call.installation.app_user)
    page = found[start_at : start_at + max_results]
    body: dict[str, Any] = {
        "issues": [representations.issue_json(call.site, issue) for issue in page],
        "isLast": start_at + len(page) >= len(found),
    }
    if not body["isLast"]:
        body["nextPageToken"] = str(start_at + len(page))
    return Response.from_json(200, body)


# --- App properties ---------------------------------------------------------------------------------------


def _own_properties(call: AppCall) -> dict[str, Any]:
    if call.params["app_key"] != call.installation.app_key:
        raise Forbidden("an app may read and write its own properties only")
    return call.installation.properties


def _property_url(call: AppCall, key: str) -> str:
    return f"{call.site.base_url}/rest/atlassian-connect/1/addons/{call.installation.app_key}/properties/{key}"


def list_properties(call: AppCall) -> Response:
    """``GET /rest/atlassian-connect/1/addons/{addonKey}/properties``: the keys of the app's properties."""
    keys = sorted(_own_properties(call))
    return Response.from_json(200, {"keys": [{"key": key, "self": _property_url(call, key)} for key in keys]})


def get_property(call: AppCall) -> Response:
    """``GET .../properties/{propertyKey}``: the property's key, JSON value and self."""
    properties, key = _own_properties(call), call.params["property_key"]
    if key not in properties:
        raise NotFound(f"Property with key not found: {key}")
    return Response.from_json(200, {"key": key, "value": properties[key], "self": _property_url(call, key)})


def put_property(call: AppCall) -> Response:
    """``PUT .../properties/{propertyKey}`` with a JSON value (at most 32 kB): 201 created, 200 updated."""
    properties, key = _own_properties(call), call.params["property_key"]
    if len(key) > MAX_PROPERTY_KEY_CHARS:
        raise BadRequest(f"the property key is longer than {MAX_PROPERTY_KEY_CHARS} characters")
    if len(call.request.body) > MAX_PROPERTY_VALUE_BYTES:
        raise BadRequest(f"the property value is larger than {MAX_PROPERTY_VALUE_BYTES} bytes")
    if not call.request.body:
        raise BadRequest("the property value must be JSON")
    value = _json_body(call)
    created = key not in properties
    properties[key] = value
    status = 201 if created else 200
    return Response.from_json(
        status, {"message": f"Property {'created' if created else 'updated'}.", "statusCode": status}
    )


def delete_property(call: AppCall) -> Response:
    """``DELETE .../properties/{propertyKey}``: 204, or 404 when there is no such property."""
    properties, key = _own_properties(call), call.params["property_key"]
    if key not in properties:
        raise NotFound(f"Property with key not found: {key}")
    del properties[key]
    return Response(204)
