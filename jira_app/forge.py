"""Forge Remote: verifying the Forge Invocation Token (FIT) that Forge sends with every call to the remote.

A FIT is an RS256 JWT in ``Authorization: Bearer <FIT>``, signed with a key from Forge's JWKS
(``ATLASSIAN_FORGE_JWKS_URL``, a setting: never a URL a token names). Its ``aud`` must be exactly this app's
ARI, its ``iss`` exactly ``forge/invocation-token``; ``exp``, ``nbf`` and ``jti`` are required, and a ``jti``
is accepted once. The ``x-forge-oauth-system`` and ``x-forge-oauth-user`` headers are opaque tokens for
calling Atlassian's APIs: they are kept as ``Secret`` objects for this request only, never parsed, logged or
stored.
See docs/forge.md for the contract and where each rule comes from.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from jira_app import exceptions, tokens
from jira_app.conf import conf
from jira_app.crypto import Secret

ISSUER = "forge/invocation-token"
ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("iss", "aud", "iat", "nbf", "exp", "jti")
SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"  # noqa: S105  # a header name
USER_TOKEN_HEADER = "x-forge-oauth-user"  # noqa: S105  # a header name

APP_ARI = re.compile(r"ari:cloud:ecosystem::app/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTALLATION_ARI = re.compile(r"ari:cloud:ecosystem::installation/[A-Za-z0-9-]{1,64}")
SITE_ARI = re.compile(r"ari:cloud:[a-z]+::site/(?P<cloud_id>[A-Za-z0-9-]{1,64})")
# An installation-context label may end up in a URL (a data-residency realm): only this shape goes near one.
IC_LABEL = re.compile(r"[a-z0-9_-]{1,50}")
_KID = re.compile(r"[A-Za-z0-9._:/+=-]{1,256}")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9:_-]{1,128}")
MAX_JTI_LENGTH = 256
MAX_JWKS_BYTES = 64 * 1024
JWKS_TIMEOUT_SECONDS = 5.0


class ForgeNotConfigured(exceptions.AuthenticationFailed):
    reason = "forge_not_configured"


class UnknownForgeKey(exceptions.AuthenticationFailed):
    reason = "unknown_kid"


class ForgeKeysUnavailable(exceptions.AuthenticationFailed):
    """Forge's JWKS could not be fetched: still a 401, so Forge (not a user) sees the failure and retries."""

    reason = "jwks_unavailable"


class ReplayedToken(exceptions.AuthenticationFailed):
    reason = "replayed_token"


@dataclass(frozen=True)
class ForgeInvocation:
    """A verified call from Forge: the installation it is for, the user behind it, and its API tokens."""

    app_id: str
    installation_id: str
    cloud_id: str
    api_base_url: str
    environment_id: str
    environment_type: str
    module_key: str
    account_id: str | None
    site_url: str
    ic_label: str | None
    claims: Mapping[str, Any] = field(repr=False)
    # Opaque bearer tokens for Atlassian's APIs, valid for this request only (never stored or logged).
    system_token: Secret | None = field(default=None, repr=False)
    user_token: Secret | None = field(default=None, repr=False)


class ForgeRequest(HttpRequest):
    """An HttpRequest that ConnectJwtMiddleware verified as a Forge Remote call (for type checking)."""

    forge_invocation: ForgeInvocation


class ForgeKeyClient(jwt.PyJWKClient):
    """PyJWT's JWKS client, fetching through ``requests`` (timeouts, no redirects, a size cap, and the same
    outbound path as every other call the app makes) and at most once per ``min_refresh_seconds``.

    PyJWKClient caches the key set for ``lifespan`` and refetches it once when a token names an unknown kid;
    the floor here holds for every fetch, so forged kids cannot make the app hammer Forge's CDN.
    """

    def __init__(self, uri: str, *, lifespan: float, min_refresh_seconds: float) -> None:
        # PyJWT's own cooldown is off: the floor below covers every fetch, including cache expiry.
        super().__init__(uri, cache_jwk_set=True, lifespan=lifespan, timeout=JWKS_TIMEOUT_SECONDS, cooldown_duration=0)
        self.min_refresh_seconds = min_refresh_seconds
        self._last: tuple[float, dict[str, Any]] | None = None
        self._fetch_lock = threading.Lock()

    def fetch_data(self) -> Any:
        now = time.monotonic()
        with self._fetch_lock:
            if self._last is not None and now - self._last[0] < self.min_refresh_seconds:
                return self._last[1]
            try:
                response = requests.get(self.uri, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise jwt.PyJWKClientConnectionError(f"the JWKS fetch failed ({type(exc).__name__})") from exc
            if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
                raise jwt.PyJWKClientConnectionError(f"the JWKS endpoint answered HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError as exc:
                raise jwt.PyJWKClientConnectionError("the JWKS endpoint did not answer with JSON") from exc
            if not isinstance(data, dict):
                raise jwt.PyJWKClientConnectionError("the JWKS endpoint did not answer with a JSON object")
            self._last = (now, data)
            return data


_clients: dict[tuple[str, int, float], ForgeKeyClient] = {}
_clients_lock = threading.Lock()


def key_client() -> ForgeKeyClient:
    """The process's JWKS client for the configured URL and cache settings (one per distinct setting)."""
    settings_key = (conf.forge_jwks_url, conf.forge_jwks_cache_seconds, conf.forge_jwks_min_refresh_seconds)
    with _clients_lock:
        client = _clients.get(settings_key)
        if client is None:
            client = _clients[settings_key] = ForgeKeyClient(
                settings_key[0], lifespan=max(settings_key[1], 1), min_refresh_seconds=settings_key[2]
            )
        return client


def forget_keys() -> None:
    """Drop every cached key set (tests; or after changing ATLASSIAN_FORGE_JWKS_URL at run time)."""
    with _clients_lock:
        _clients.clear()


def bearer_token(request: HttpRequest) -> str:
    authorization: str = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise exceptions.MissingToken("no Forge Invocation Token: expected an 'Authorization: Bearer <FIT>' header")
    return credentials.strip()


def _signing_key(kid: object) -> Any:
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise exceptions.InvalidKeyId("the token's header has no plain 'kid'")
    try:
        return key_client().get_signing_key(kid).key
    except jwt.PyJWKClientConnectionError as exc:
        raise ForgeKeysUnavailable("Forge's key set could not be fetched: the call can be retried") from exc
    except jwt.PyJWKClientError as exc:
        raise UnknownForgeKey("the token's kid is not in Forge's key set") from exc


def _decode(raw: str, key: Any, app_id: str) -> dict[str, Any]:
    leeway = conf.jwt_leeway
    options: Any = {"require": list(REQUIRED_CLAIMS), "strict_aud": True}
    try:
        claims: dict[str, Any] = jwt.decode(
            raw, key, algorithms=[ALGORITHM], audience=app_id, issuer=ISSUER, leeway=leeway, options=options
        )
    except jwt.ExpiredSignatureError as exc:
        raise exceptions.ExpiredToken(f"the invocation token has expired (leeway {leeway} s)") from exc
    except jwt.ImmatureSignatureError as exc:
        raise exceptions.InvalidClaims("the invocation token is not valid yet (nbf/iat in the future)") from exc
    except jwt.InvalidAudienceError as exc:
        raise exceptions.InvalidClaims("the invocation token's 'aud' is not this app's ARI") from exc
    except jwt.InvalidIssuerError as exc:
        raise exceptions.InvalidClaims(f"the invocation token's 'iss' is not {ISSUER!r}") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise exceptions.InvalidClaims(f"the invocation token lacks the required '{exc.claim}' claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise exceptions.InvalidSignature("the invocation token's signature does not verify") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise exceptions.WrongAlgorithm(f"an invocation token must be signed with {ALGORITHM}") from exc
    except jwt.PyJWTError as exc:
        raise exceptions.MalformedToken(f"the invocation token is invalid: {type(exc).__name__}") from exc
    return claims


def _string(data: Mapping[str, Any], name: str, *, limit: int = 255) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise exceptions.InvalidClaims(f"the invocation token's '{name}' is not a string of at most {limit} characters")
    return value


def _invocation(claims: Mapping[str, Any], app_id: str) -> ForgeInvocation:
    """The installation and user a verified token speaks for, each field checked for shape."""
    app = claims.get("app")
    if not isinstance(app, dict):
        raise exceptions.InvalidClaims("the invocation token has no 'app' object")
    if app.get("id") != app_id:
        raise exceptions.InvalidClaims("the invocation token's app.id is not this app's ARI")
    installation_id = _string(app, "installationId")
    if not INSTALLATION_ARI.fullmatch(installation_id):
        raise exceptions.InvalidClaims("the invocation token's app.installationId is not an installation ARI")
    api_base_url = _string(app, "apiBaseUrl", limit=512).rstrip("/")
    parts = urlsplit(api_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise exceptions.InvalidClaims("the invocation token's app.apiBaseUrl is not an absolute http(s) URL")
    ic_label = app.get("icLabel")
    if ic_label is not None and (not isinstance(ic_label, str) or not IC_LABEL.fullmatch(ic_label)):
        raise exceptions.InvalidClaims("the invocation token's icLabel is not a plain label")
    environment, module, context = _object(app, "environment"), _object(app, "module"), _object(claims, "context")
    principal = claims.get("principal")
    if principal is not None and (not isinstance(principal, str) or not _ACCOUNT_ID.fullmatch(principal)):
        raise exceptions.InvalidClaims("the invocation token's principal is not an accountId")
    return ForgeInvocation(
        app_id=app_id,
        installation_id=installation_id,
        cloud_id=_cloud_id(app, context),
        api_base_url=api_base_url,
        environment_id=_string(environment, "id"),
        environment_type=_string(environment, "type", limit=50),
        module_key=_string(module, "key"),
        account_id=principal or None,
        site_url=_string(context, "siteUrl").rstrip("/"),
        ic_label=ic_label,
        claims=claims,
    )


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _cloud_id(app: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """The site's cloudId: the UI context's, else the one its installation context ARI names."""
    cloud_id = _string(context, "cloudId", limit=64)
    if cloud_id:
        return cloud_id
    installation = app.get("installation")
    contexts = installation.get("contexts") if isinstance(installation, dict) else None
    for ari in contexts if isinstance(contexts, list) else []:
        found = SITE_ARI.fullmatch(ari) if isinstance(ari, str) else None
        if found:
            return found.group("cloud_id")
    return ""


def _use_once(jti: object, exp: object) -> None:
    """Record ``jti`` until the token expires; a second use of it is a replay."""
    from jira_app.models import UsedInvocationToken  # models import this module's neighbours; keep the edge one-way

    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise exceptions.InvalidClaims("the invocation token's 'jti' is not a string")
    if not isinstance(exp, int | float):
        # PyJWT also passes a numeric string, which would leave the jti forgotten before the token expires.
        raise exceptions.InvalidClaims("the invocation token's 'exp' is not a number")
    now = timezone.now()
    # Kept as long as the token could pass the exp check.
    try:
        expires_at = max(datetime.fromtimestamp(exp, UTC), now) + timedelta(seconds=conf.jwt_leeway)
    except (OverflowError, ValueError, OSError) as exc:  # past the year 9999: a 401, not a 500
        raise exceptions.InvalidClaims("the invocation token's 'exp' is too far in the future") from exc
    digest = hashlib.sha256(jti.encode()).hexdigest()
    UsedInvocationToken.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            UsedInvocationToken.objects.create(jti_sha256=digest, expires_at=expires_at)
    except IntegrityError as exc:
        raise ReplayedToken("this invocation token was already used (its jti was seen before)") from exc


def _header_secret(request: HttpRequest, name: str) -> Secret | None:
    value: str = request.headers.get(name, "")
    return Secret(value) if value else None


def authenticate_invocation(request: HttpRequest) -> ForgeInvocation:
    """Verify the request's FIT as this app's Forge Remote (every failure is an AuthenticationFailed, 401)."""
    token = tokens.read_unverified(bearer_token(request))
    if token.header.get("alg") != ALGORITHM:
        # Refused before any key is fetched: HS256 keyed with a public key, or alg none, is a forgery.
        raise exceptions.WrongAlgorithm(f"an invocation token must be signed with {ALGORITHM}")
    app_id = conf.forge_app_id
    if not app_id:
        raise ForgeNotConfigured("this app has no ATLASSIAN_FORGE_APP_ID: it accepts no Forge calls")
    claims = _decode(token.raw, _signing_key(token.header.get("kid")), app_id)
    invocation = _invocation(claims, app_id)
    _use_once(claims.get("jti"), claims.get("exp"))
    return replace(
        invocation,
        system_token=_header_secret(request, SYSTEM_TOKEN_HEADER),
        user_token=_header_secret(request, USER_TOKEN_HEADER),
    )
