"""Thin views: parse, call the module that does the work, respond. Authentication is the middleware's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from jira_app import forge_installations, lifecycle, webhooks
from jira_app.authentication import HostRequest, SignedInstallRequest
from jira_app.client import AtlassianHostRestClient, ForgeApiClient, HostRequestError, RestClient
from jira_app.conf import conf
from jira_app.decorators import context_jwt, forge_remote, lifecycle_jwt, public, signed_install
from jira_app.descriptor import descriptor_json
from jira_app.forge import ForgeRequest
from jira_app.framing import allow_framing_by
from jira_app.models import AtlassianHost

logger = logging.getLogger(__name__)

_NO_CONTENT = 204
PROJECTS_CACHE_SECONDS = 60
# What Django's never_cache sets, no-store included (Marketplace asks it of pages that show a tenant's data),
# without the Expires header only HTTP/1.0 caches read.
NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``never_cache`` as one constant header: never_cache parses and rebuilds Cache-Control on every response,
    a tenth of a page load's view time (benchmarks/README.md)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = NO_STORE
        return response

    return wrapper


@public
@require_GET
def descriptor(request: HttpRequest) -> HttpResponse:
    return HttpResponse(descriptor_json(), content_type="application/json")


@signed_install
@require_POST
def installed(request: SignedInstallRequest) -> HttpResponse:
    payload = lifecycle.LifecyclePayload.parse(request.body, expected_event="installed")
    lifecycle.installed(request.signed_install, payload)
    return HttpResponse(status=_NO_CONTENT)


@signed_install
@require_POST
def uninstalled(request: SignedInstallRequest) -> HttpResponse:
    payload = lifecycle.LifecyclePayload.parse(request.body, expected_event="uninstalled")
    lifecycle.uninstalled(request.signed_install, payload)
    return HttpResponse(status=_NO_CONTENT)


@lifecycle_jwt
@require_POST
def enabled(request: HostRequest) -> HttpResponse:
    return _set_enabled(request, enabled=True)


@lifecycle_jwt
@require_POST
def disabled(request: HostRequest) -> HttpResponse:
    return _set_enabled(request, enabled=False)


def _set_enabled(request: HostRequest, *, enabled: bool) -> HttpResponse:
    event = "enabled" if enabled else "disabled"
    payload = lifecycle.LifecyclePayload.parse(request.body, expected_event=event)
    host_user = request.atlassian_host_user
    lifecycle.set_enabled(host_user.host, host_user.token, payload, enabled=enabled)
    return HttpResponse(status=_NO_CONTENT)


@no_store
@require_GET
def hello(request: HostRequest) -> HttpResponse:
    """The general page: which site this is, who is looking, and what the site's REST API says."""
    host_user = request.atlassian_host_user
    host = host_user.host
    projects, error = None, None
    try:
        projects = _projects(host)
    except HostRequestError as exc:
        error = str(exc)
        logger.warning("hello page for client_key=%r: REST call failed: %s", host.client_key, error)
    # No RequestContext: the page uses none of the context processors' values (user, messages, CSRF token).
    page = render_to_string(
        "jira_app/hello.html",
        {
            "host": host,
            "account_id": host_user.user_account_id,
            "projects": projects,
            "rest_error": error,
            "all_js_url": conf.all_js_url,
        },
    )
    response = HttpResponse(page)
    return allow_framing_by(response, host)


def _projects(host: AtlassianHost) -> list[dict[str, str]]:
    """The site's projects, from its REST API as the app; kept a minute, so a page load isn't a round trip."""
    cache_key = f"jira_app:projects:{host.pk}"
    projects: list[dict[str, str]] | None = cache.get(cache_key)
    if projects is None:
        projects = _project_list(AtlassianHostRestClient(host))
        cache.set(cache_key, projects, PROJECTS_CACHE_SECONDS)
    return projects


def _project_list(client: RestClient) -> list[dict[str, str]]:
    found = client.get_json("/rest/api/3/project/search", params={"maxResults": 20})
    values = found.get("values") if isinstance(found, dict) else None
    if not isinstance(values, list) or not all(isinstance(p, dict) for p in values):
        raise HostRequestError("the project list had an unexpected shape")
    return [{"key": str(p.get("key", "")), "name": str(p.get("name", ""))} for p in values]


@context_jwt
@no_store
@require_GET
def whoami(request: HostRequest) -> JsonResponse:
    """Called from the page with ``AP.context.getToken()``: who the browser's context token speaks for."""
    host_user = request.atlassian_host_user
    return JsonResponse(
        {
            "clientKey": host_user.host.client_key,
            "baseUrl": host_user.host.base_url,
            "accountId": host_user.user_account_id,
        }
    )


@require_POST
def webhook_issue_created(request: HostRequest) -> HttpResponse:
    # From META, as the token is: request.headers would build a dict of every header for these two.
    webhooks.record_delivery(
        request.atlassian_host,
        identifier=request.META.get("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER", ""),
        retry=request.META.get("HTTP_X_ATLASSIAN_WEBHOOK_RETRY", ""),
        content_type=request.content_type or "",
        body=request.body,
    )
    return HttpResponse(status=_NO_CONTENT)


@forge_remote
@require_POST
def forge_lifecycle(request: ForgeRequest) -> JsonResponse:
    """Forge's avi:forge:installed:app and avi:forge:upgraded:app triggers (5 s budget, retried up to 4 times)."""
    trigger = forge_installations.LifecycleTrigger.parse(request.body)
    installation = forge_installations.record_trigger(request.forge_invocation, trigger)
    return JsonResponse({"installationId": installation.installation_id})


@forge_remote
@no_store
@require_GET
def forge_projects(request: ForgeRequest) -> JsonResponse:
    """The Custom UI page's data: this installation, the user, and the site's projects read with the system token."""
    invocation = request.forge_invocation
    installation = forge_installations.resolve(invocation)
    data: dict[str, object] = {
        "installationId": installation.installation_id,
        "cloudId": installation.cloud_id,
        "accountId": invocation.account_id,
        "clientKey": installation.host.client_key if installation.host else None,
    }
    # As on the hello page, a failed REST call is reported in the page's data, not as an error status.
    if invocation.system_token is None:
        data["error"] = "Forge sent no app system token: enable auth.appSystemToken on the endpoint"
        return JsonResponse(data)
    try:
        data["projects"] = _project_list(ForgeApiClient(invocation.api_base_url, invocation.system_token))
    except HostRequestError as exc:
        logger.warning("forge projects for installation_id=%r: REST call failed: %s", installation.installation_id, exc)
        data["error"] = str(exc)
    return JsonResponse(data)
