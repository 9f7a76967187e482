"""Markers read by ConnectJwtMiddleware. A view without one requires a request-bound tenant JWT.

Like Django's ``login_not_required``, each decorator only labels the view; the policy lives in the middleware,
so a new view is protected even when its author forgets a decorator (protect by default, as Atlassian's
Spring Boot framework does with ``@IgnoreJwt`` and ``@ContextJwt``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

View = TypeVar("View", bound=Callable[..., Any])


class AuthPolicy(enum.Enum):
    HOST_REQUEST = "host_request"  # default: HS256, qsh computed for this request (page loads, webhooks)
    CONTEXT = "context"  # HS256, a context token (qsh "context-qsh") or a request-bound one
    LIFECYCLE = "lifecycle"  # enabled/disabled: HS256 request-bound, tenant may be disabled or uninstalled
    SIGNED_INSTALL = "signed_install"  # installed/uninstalled: RS256 from Atlassian's install-key service
    PUBLIC = "public"  # no token: the descriptor
    FORGE_REMOTE = "forge_remote"  # RS256 Forge Invocation Token (Bearer) from Forge, keys from its JWKS


def _marker(policy: AuthPolicy) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.connect_auth_policy = policy  # type: ignore[attr-defined]  # a label, as login_not_required sets
        return view

    return mark


public = _marker(AuthPolicy.PUBLIC)
context_jwt = _marker(AuthPolicy.CONTEXT)
lifecycle_jwt = _marker(AuthPolicy.LIFECYCLE)
signed_install = _marker(AuthPolicy.SIGNED_INSTALL)
forge_remote = _marker(AuthPolicy.FORGE_REMOTE)


def policy_of(view: Callable[..., Any]) -> AuthPolicy:
    policy: AuthPolicy = getattr(view, "connect_auth_policy", AuthPolicy.HOST_REQUEST)
    return policy
