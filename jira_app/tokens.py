"""Verifying Connect JWTs with PyJWT: HS256 tokens from a tenant, RS256 signed installs from Atlassian.

Nothing here touches the database or the network: the caller supplies the key. The algorithm is fixed by
the kind of request, never taken from the token's header (docs/protocol.md §2, §3).
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import urlsafe_b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jira_app import bodies, exceptions, qsh
from jira_app.crypto import Secret

# Jira's tokens are a few hundred bytes; anything near this is garbage or an attack on the parser.
MAX_TOKEN_LENGTH = 8 * 1024
HOST_TOKEN_CLAIMS = ("exp", "iat", "iss", "qsh")
INSTALL_TOKEN_CLAIMS = ("exp", "iat", "iss", "qsh", "aud")
# The clientKey column's length: a longer iss names no tenant, and is refused before it reaches a query.
MAX_ISSUER_LENGTH = 255
# The longest lifetime (exp - iat) an install or uninstall token may have. Atlassian's lifecycle tokens have
# been seen with 180 s and 900 s, the longest any Jira token is documented to live (context tokens, 15 min).
# A longer one is refused: each accepted token is remembered until it expires (jira_app.lifecycle), so this
# also bounds how long that record is kept.
MAX_INSTALL_TOKEN_LIFETIME = 900


@dataclass(frozen=True)
class UnverifiedToken:
    """Header and claims read without any check: good for choosing a key, never for trusting."""

    raw: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise exceptions.InvalidClaims("the token has no 'iss' claim naming the Jira site (its clientKey)")
        # NUL and lone surrogates are refused by bodies.loads already; no clientKey holds a control character.
        if len(iss) > MAX_ISSUER_LENGTH or not iss.isprintable():
            raise exceptions.InvalidClaims("the token's 'iss' is not a clientKey any Jira site could have")
        return iss


@dataclass(frozen=True)
class VerifiedToken:
    """Claims of a token whose signature, lifetime and ``qsh`` have been checked, and the token itself."""

    claims: Mapping[str, Any]
    raw: str = field(repr=False)

    @property
    def digest(self) -> str:
        """SHA-256 of the compact token: names it (e.g. to refuse its replay) without keeping it."""
        return hashlib.sha256(self.raw.encode()).hexdigest()

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str | None:
        """The Atlassian accountId of the user, absent when no user is logged in (docs/protocol.md §3)."""
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None

    @property
    def is_context_token(self) -> bool:
        return self.claims.get("qsh") == qsh.CONTEXT_QSH


def _b64_json(segment: str) -> dict[str, Any]:
    try:
        value = bodies.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise exceptions.MalformedToken("the token is not a JWT (a segment is not base64url JSON)") from exc
    if not isinstance(value, dict):
        raise exceptions.MalformedToken("the token is not a JWT (a segment is not a JSON object)")
    return value


# A refused request's token is read again for the refusal's log line (authentication.unverified_issuer):
# remembering the last few spares parsing it twice. Raising calls are not remembered, and hold nothing.
@lru_cache(maxsize=8)
def read_unverified(token: str) -> UnverifiedToken:
    """Split and decode a compact JWT without trusting it; raises MalformedToken on anything odd."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise exceptions.MalformedToken(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    segments = token.split(".")
    if len(segments) != 3:
        raise exceptions.MalformedToken("the token is not a JWT (it needs three dot-separated segments)")
    return UnverifiedToken(raw=token, header=_b64_json(segments[0]), claims=_b64_json(segments[1]))


def _decode(
    token: str, key: str | RSAPublicKey, algorithm: str, *, leeway: int, audience: list[str] | None
) -> dict[str, Any]:
    required = INSTALL_TOKEN_CLAIMS if audience is not None else HOST_TOKEN_CLAIMS
    # Tenant tokens may carry an undocumented 'aud' (docs/protocol.md §3): only install tokens have it checked.
    options: Any = {"require": list(required), "verify_aud": audience is not None}
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[algorithm], leeway=leeway, options=options, audience=audience
        )
    except jwt.ExpiredSignatureError as exc:
        raise exceptions.ExpiredToken(
            f"the token has expired (leeway {leeway} s): reload the page in Jira, or check the clock"
        ) from exc
    except jwt.InvalidAlgorithmError as exc:
        raise exceptions.WrongAlgorithm(f"the token must be signed with {algorithm}") from exc
    except jwt.InvalidSignatureError as exc:
        raise exceptions.InvalidSignature("the token's signature does not verify") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise exceptions.InvalidClaims(f"the token lacks the required '{exc.claim}' claim") from exc
    except jwt.InvalidAudienceError as exc:
        raise exceptions.InvalidClaims("the token's 'aud' is not this app's baseUrl") from exc
    except jwt.ImmatureSignatureError as exc:
        raise exceptions.InvalidClaims("the token is not valid yet (iat/nbf in the future): check the clock") from exc
    except jwt.PyJWTError as exc:
        raise exceptions.MalformedToken(f"the token is invalid: {type(exc).__name__}") from exc
    # PyJWT accepts an aud list that names this app among others: a token for this app alone is required.
    aud = claims.get("aud")
    if audience is not None and isinstance(aud, list) and not all(entry in audience for entry in aud):
        raise exceptions.InvalidClaims("the token's 'aud' names other apps besides this app's baseUrl")
    return claims


def _check_qsh(claims: Mapping[str, Any], expected: Callable[[], list[str]], *, allow_context: bool) -> None:
    claimed = claims.get("qsh")
    if not isinstance(claimed, str):
        raise exceptions.InvalidClaims("the token's 'qsh' claim is not a string")
    if claimed == qsh.CONTEXT_QSH:
        if allow_context:
            return
        raise exceptions.ContextTokenRefused(
            "a context token (qsh 'context-qsh') is not accepted here: this route needs a token bound to the request"
        )
    # Hashed only now, after the signature: the request's hashes cost time in proportion to its query and body.
    if not qsh.matches(claimed, expected()):
        raise exceptions.QshMismatch("the token's qsh is bound to another method, path or query")


def verify_host_token(
    token: UnverifiedToken,
    shared_secret: Secret,
    *,
    expected_qsh: Callable[[], list[str]],
    allow_context: bool,
    leeway: int,
) -> VerifiedToken:
    """Verify a tenant's HS256 token: signature, ``exp``/``iat``/``iss``/``qsh`` present, times, ``qsh``."""
    if token.header.get("alg") != "HS256":
        raise exceptions.WrongAlgorithm("a token from a Jira site must be signed with HS256")
    claims = _decode(token.raw, shared_secret.reveal(), "HS256", leeway=leeway, audience=None)
    _check_qsh(claims, expected_qsh, allow_context=allow_context)
    return VerifiedToken(claims, token.raw)


@lru_cache(maxsize=64)
def load_public_key(pem: str) -> RSAPublicKey:
    """Parse an install-signing PEM key (memoised: keys are immutable per kid)."""
    try:
        key = load_pem_public_key(pem.encode())
    except UnsupportedAlgorithm as exc:  # a well-formed PEM of a key type cryptography cannot load
        raise ValueError("the install key is of an unsupported type") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the install key is not an RSA public key")
    return key


def verify_install_token(
    token: UnverifiedToken,
    public_key: RSAPublicKey,
    *,
    audience: str,
    expected_qsh: Callable[[], list[str]],
    leeway: int,
) -> VerifiedToken:
    """Verify an RS256 signed install: signature, ``aud`` = app baseUrl, times, ``qsh`` (docs/protocol.md §2)."""
    if token.header.get("alg") != "RS256":
        raise exceptions.WrongAlgorithm("install and uninstall callbacks must be signed by Atlassian with RS256")
    # ACE ignores one trailing "/" when comparing aud with the baseUrl (docs/protocol.md §2).
    audiences = [audience.rstrip("/"), audience.rstrip("/") + "/"]
    claims = _decode(token.raw, public_key, "RS256", leeway=leeway, audience=audiences)
    # PyJWT checked both times are numbers (int() of them works); only their distance is left to check.
    if int(claims["exp"]) - int(claims["iat"]) > MAX_INSTALL_TOKEN_LIFETIME:
        raise exceptions.InvalidClaims(
            f"the token lives longer than {MAX_INSTALL_TOKEN_LIFETIME} s (exp - iat): Atlassian's never do"
        )
    _check_qsh(claims, expected_qsh, allow_context=False)
    return VerifiedToken(claims, token.raw)
