"""Authenticating a request to the app: find the token, pick the tenant by its ``iss``, verify.

The tenant is chosen only by the token's ``iss`` (the clientKey), never by ``xdm_e``, ``cp`` or any other
query parameter: those are the user's to edit (docs/protocol.md §7).
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest

from jira_app import exceptions, install_keys, qsh, tokens
from jira_app.conf import conf
from jira_app.crypto import Secret
from jira_app.decorators import AuthPolicy
from jira_app.models import AtlassianHost

# A key no token is signed with: a new one in each process.
_DECOY_SECRET = Secret(secrets.token_urlsafe(48))


@dataclass(frozen=True)
class AtlassianHostUser:
    """Who is calling: the tenant, and the Atlassian accountId of the user (``sub``) when there is one."""

    host: AtlassianHost
    user_account_id: str | None
    token: tokens.VerifiedToken


class HostRequest(HttpRequest):
    """An HttpRequest that ConnectJwtMiddleware authenticated as coming from a tenant (for type checking)."""

    atlassian_host_user: AtlassianHostUser
    atlassian_host: AtlassianHost


class SignedInstallRequest(HttpRequest):
    """An HttpRequest carrying a verified Atlassian-signed lifecycle token (for type checking)."""

    signed_install: tokens.VerifiedToken


def token_from_request(request: HttpRequest) -> str:
    """The JWT from ``Authorization: JWT <token>``, else from the ``jwt`` query parameter (docs/protocol.md §3)."""
    # META rather than request.headers, which would copy every header into a new mapping for this one.
    authorization: str = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "jwt" and credentials.strip():
        return credentials.strip()
    token = _query_parameter(request, "jwt")
    if token:
        return token
    raise exceptions.MissingToken("no JWT: expected an 'Authorization: JWT <token>' header or a 'jwt' query parameter")


def _query_parameter(request: HttpRequest, name: str) -> str:
    """``request.GET.get(name, "")``, without building ``request.GET``.

    A page load carries a dozen context parameters and the token is the only one authentication reads:
    decoding them all into a QueryDict cost as much as verifying the token's signature. The answer is the
    same: the last value of ``name``, names and values decoded as QueryDict decodes them. Queries QueryDict
    treats specially (raw non-ASCII bytes, more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS allows, which it
    refuses with a 400) still go through it.
    """
    query: str = request.META.get("QUERY_STRING", "")
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if not query.isascii() or (limit is not None and query.count("&") >= limit):
        value: str = request.GET.get(name, "")
        return value
    found = ""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name or (("%" in key or "+" in key) and unquote_plus(key) == name):
            found = value
    return unquote_plus(found)


def authenticate_host_request(request: HttpRequest, policy: AuthPolicy) -> AtlassianHostUser:
    """Verify a tenant's HS256 token for this request under ``policy`` (docs/protocol.md §3)."""
    token = tokens.read_unverified(token_from_request(request))
    host = AtlassianHost.objects.for_authentication(token.issuer)
    if host is None:
        # Verified as an installed site's token would be, against a key it cannot match: whatever else is wrong
        # with it is answered the same, in the same time, so nobody learns which sites have the app installed.
        with suppress(exceptions.InvalidSignature):
            tokens.verify_host_token(
                token, _DECOY_SECRET, expected_qsh=list, allow_context=True, leeway=conf.jwt_leeway
            )
        raise exceptions.UnknownHost("the token's iss is not an installed Jira site: install the app first")
    verified = tokens.verify_host_token(
        token,
        host.shared_secret,
        expected_qsh=partial(qsh.request_hashes, request, conf.base_path),
        allow_context=policy is AuthPolicy.CONTEXT,
        leeway=conf.jwt_leeway,
    )
    # Checked after the signature, so only a holder of the site's secret learns the site's state. Uninstalling
    # revokes the secret on every route, enabled/disabled included; a disabled site may still be enabled.
    if not host.is_active:
        if not host.installed:
            raise exceptions.InactiveHost("the app is uninstalled on this Jira site: its secret is revoked")
        if policy is not AuthPolicy.LIFECYCLE:
            raise exceptions.InactiveHost("the app is disabled on this Jira site")
    return AtlassianHostUser(host=host, user_account_id=verified.subject, token=verified)


def authenticate_install(request: HttpRequest) -> tokens.VerifiedToken:
    """Verify an Atlassian-signed (RS256) installed/uninstalled callback (docs/protocol.md §2)."""
    token = tokens.read_unverified(token_from_request(request))
    if token.header.get("alg") != "RS256":
        # Refused before any key is fetched: an HS256 or unsigned install is the tenant takeover (docs/mistakes.md).
        raise exceptions.WrongAlgorithm("install and uninstall callbacks must be signed by Atlassian with RS256")
    public_key = install_keys.get_install_key(token.header.get("kid"))
    return tokens.verify_install_token(
        token,
        public_key,
        audience=conf.base_url,
        expected_qsh=partial(qsh.request_hashes, request, conf.base_path),
        leeway=conf.jwt_leeway,
    )


def unverified_issuer(request: HttpRequest) -> str | None:
    """The ``iss`` a request claims, for log lines about refused requests; never trusted."""
    try:
        return tokens.read_unverified(token_from_request(request)).issuer
    except exceptions.ConnectError:
        return None
