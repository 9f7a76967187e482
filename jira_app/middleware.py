"""ConnectJwtMiddleware: every view requires a verified Connect JWT unless a decorator says otherwise.

ConnectRoutesMiddleware: the Connect routes take a shorter middleware chain than the admin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.test.utils import override_settings
from django.urls import get_script_prefix, reverse

from jira_app import authentication, forge
from jira_app.conf import conf
from jira_app.decorators import AuthPolicy, policy_of
from jira_app.exceptions import ConnectError

security_logger = logging.getLogger("jira_app.security")

_MAX_LOGGED_CHARS = 100


class ConnectJwtMiddleware:
    """Authenticate each request by the policy its view is marked with (jira_app.decorators).

    On success the view finds ``request.atlassian_host_user`` and ``request.atlassian_host`` (or
    ``request.signed_install`` on install callbacks). On failure the client gets the error's status
    with a JSON body ``{"error": reason, "message": ...}``, and ``jira_app.security`` gets one line with the
    precise reason (the client may be told less: ConnectError.disclosed).
    It must come before CsrfViewMiddleware (check jira_app.E004): a JWT-authenticated request carries no
    session cookie that a forged cross-site request could ride on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        policy = policy_of(view_func)
        if policy is AuthPolicy.PUBLIC or self._has_own_authentication(request):
            return None
        try:
            if policy is AuthPolicy.FORGE_REMOTE:
                request.forge_invocation = forge.authenticate_invocation(request)  # type: ignore[attr-defined]
            elif policy is AuthPolicy.SIGNED_INSTALL:
                request.signed_install = authentication.authenticate_install(request)  # type: ignore[attr-defined]
            else:
                host_user = authentication.authenticate_host_request(request, policy)
                request.atlassian_host_user = host_user  # type: ignore[attr-defined]
                request.atlassian_host = host_user.host  # type: ignore[attr-defined]
        except ConnectError as exc:
            return refuse(request, exc)
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # the flag CsrfViewMiddleware reads
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A view that finds the request bad after authentication raises a ConnectError too."""
        return refuse(request, exception) if isinstance(exception, ConnectError) else None

    @staticmethod
    def _has_own_authentication(request: HttpRequest) -> bool:
        match = request.resolver_match
        exempt = conf.jwt_exempt_namespaces
        return match is not None and any(namespace in exempt for namespace in match.namespaces)


def refuse(request: HttpRequest, error: ConnectError) -> HttpResponse:
    """The response for a refused request, and its log line (a reason code; never a token or secret)."""
    client_key = authentication.unverified_issuer(request)
    security_logger.warning(
        "refused %s %r: %s (%s) client_key=%r",
        request.method,
        request.path[:_MAX_LOGGED_CHARS],
        error.reason,
        error.message,
        client_key[:_MAX_LOGGED_CHARS] if client_key else None,
    )
    response = JsonResponse({"error": error.client_reason, "message": error.client_message}, status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = f'JWT realm="{conf.app_key}"'
    response["Cache-Control"] = "no-store"
    return response


class ConnectRoutesMiddleware:
    """Hand requests for the Connect routes (``/jira/...``) to their own chain, ATLASSIAN_CONNECT_MIDDLEWARE.

    A Connect request is authenticated by its JWT and carries no cookie, so sessions, CSRF, the admin's
    authentication and messages have nothing to do on it, and on a page load they cost about a quarter of its
    CPU time (benchmarks/README.md). First in MIDDLEWARE: other requests (the admin) go on down MIDDLEWARE.
    The prefix is where the URLconf mounts jira_app; mounted at the root, there is nothing to split.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        descriptor_path = "/" + reverse("jira_app:descriptor").removeprefix(get_script_prefix())
        self.prefix = descriptor_path.rsplit("/", 1)[0] + "/"
        if self.prefix == "/":
            raise MiddlewareNotUsed("jira_app is mounted at the root: every request takes MIDDLEWARE")
        self.connect_handler = ConnectHandler()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(self.prefix):
            return self.connect_handler.get_response(request)
        return self.get_response(request)


class ConnectHandler(BaseHandler):
    """Django's request handling with ATLASSIAN_CONNECT_MIDDLEWARE as its chain."""

    def __init__(self) -> None:
        super().__init__()
        # BaseHandler builds its chain from settings.MIDDLEWARE and from nothing else: it is given this one
        # while it builds, once, at start-up.
        with override_settings(MIDDLEWARE=conf.connect_middleware):
            self.load_middleware()
