"""Thin views: parse, call the module that does the work, respond. Authentication is the middleware's."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from jira_app import lifecycle, webhooks
from jira_app.authentication import HostRequest, SignedInstallRequest
from jira_app.client import AtlassianHostRestClient, HostRequestError
from jira_app.conf import conf
from jira_app.decorators import context_jwt, lifecycle_jwt, public, signed_install
from jira_app.descriptor import build_descriptor
from jira_app.framing import allow_framing_by

logger = logging.getLogger(__name__)

_NO_CONTENT = 204


@public
@require_GET
def descriptor(request: HttpRequest) -> JsonResponse:
    return JsonResponse(build_descriptor())


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


@never_cache
@require_GET
def hello(request: HostRequest) -> HttpResponse:
    """The general page: which site this is, who is looking, and what the site's REST API says."""
    host_user = request.atlassian_host_user
    host = host_user.host
    projects, error = None, None
    try:
        found = AtlassianHostRestClient(host).get_json("/rest/api/3/project/search", params={"maxResults": 20})
        projects = [{"key": p.get("key", ""), "name": p.get("name", "")} for p in found.get("values", [])]
    except (HostRequestError, AttributeError, TypeError) as exc:
        error = str(exc) if isinstance(exc, HostRequestError) else "the project list had an unexpected shape"
        logger.warning("hello page for client_key=%r: REST call failed: %s", host.client_key, error)
    response = render(
        request,
        "jira_app/hello.html",
        {
            "host": host,
            "account_id": host_user.user_account_id,
            "projects": projects,
            "rest_error": error,
            "all_js_url": conf.all_js_url,
        },
    )
    # never_cache sets no-cache, must-revalidate, private too; Marketplace asks for no-store on such pages.
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    return allow_framing_by(response, host)


@context_jwt
@never_cache
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
    webhooks.record_delivery(
        request.atlassian_host,
        identifier=request.headers.get("X-Atlassian-Webhook-Identifier", ""),
        retry=request.headers.get("X-Atlassian-Webhook-Retry", ""),
        body=request.body,
    )
    return HttpResponse(status=_NO_CONTENT)
