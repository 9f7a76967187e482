"""The JWTs Jira sends (RS256 signed installs; HS256 lifecycle, page, webhook and context tokens), the named
forgeries hostile tests send instead, the check Jira makes on the app's own tokens, and the query string hash.

PyJWT signs every token, honest or forged, that it is willing to sign (``alg: none`` included). The two
forgeries it rightly refuses to produce (an HMAC keyed with an RSA public key, a non-string ``kid``) are signed
by ``hmac_signed``, with the HMAC from the standard library; the Forge tokens (fake_jira.forge.tokens) use it
too.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fake_jira.exceptions import FakeJiraError, Unauthorized

CONTEXT_QSH = "context-qsh"

# Lifetimes Jira gives its tokens (docs/protocol.md §3, §5): iframe tokens 180 s, context tokens 15 min.
REQUEST_TOKEN_SECONDS = 180
CONTEXT_TOKEN_SECONDS = 900
# Jira reads the app's tokens with Atlassian's JwtReader, which allows 30 s of clock skew (docs/protocol.md §3).
APP_TOKEN_LEEWAY_SECONDS = 30
# Atlassian's Java reader refuses tokens without these (docs/protocol.md §3, §6).
APP_TOKEN_CLAIMS = ("iss", "iat", "exp", "qsh")

Algorithm = Literal["HS256", "RS256"]


# --- The query string hash --------------------------------------------------------------------------------
#
# ORACLE, kept independent on purpose: written from the rules of Atlassian's Java HttpRequestCanonicalizer
# (docs/protocol.md §4), sharing no code with jira_app.qsh or atlassian-jwt. The app is tested against it, so
# a bug shared by both sides would pass unseen. fixtures/qsh_vectors.json pins it (tests/fake_jira/test_tokens.py).


def canonical_path(path: str, base_path: str = "") -> str:
    """The path relative to ``base_path``, one trailing ``/`` removed, ``&`` escaped (docs/protocol.md §4, step 2)."""
    base_path = base_path.rstrip("/")
    # Java takes getRequestURI() minus the context path: a plain prefix, not a path-segment match.
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :]
    # StringUtils.removeEnd(path, "/") removes a single slash: "/foo//" becomes "/foo/" (fixtures/README.md: probes).
    if path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/"):
        path = "/" + path
    return path.replace("&", "%26")


def _percent_encode(text: str) -> str:
    # Only A-Z a-z 0-9 - . _ ~ stay as they are ("for consistency with OAuth1", docs/protocol.md §4, step 3).
    return quote(text, safe="")


def _utf16_units(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def canonical_query(query: str, form: str | None = None) -> str:
    """Parameters decoded, ``jwt`` dropped, re-encoded, repeated values joined and sorted (docs/protocol.md §4, step 3).

    ``form`` is an ``application/x-www-form-urlencoded`` body: the servlet parameter map Jira reads holds its
    fields too (docs/protocol.md §4; vector js-48).
    """
    values_by_name: dict[str, list[str]] = {}
    for source in (query, form or ""):
        for pair in source.split("&"):
            if not pair:
                continue
            raw_name, _, raw_value = pair.partition("=")
            name = unquote_plus(raw_name)
            if name != "jwt":
                values_by_name.setdefault(name, []).append(unquote_plus(raw_value))
    # Values sort as decoded strings compared the way Java's String does, by UTF-16 code unit (a character
    # beyond U+FFFF sorts before U+FF5E); entries sort by encoded name.
    entries = sorted(
        (_percent_encode(name), ",".join(_percent_encode(value) for value in sorted(values, key=_utf16_units)))
        for name, values in values_by_name.items()
    )
    return "&".join(f"{name}={value}" for name, value in entries)


def canonical_request(method: str, path: str, query: str = "", *, base_path: str = "", form: str | None = None) -> str:
    return f"{method.upper()}&{canonical_path(path, base_path)}&{canonical_query(query, form)}"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def query_string_hash(method: str, path: str, query: str = "", *, base_path: str = "", form: str | None = None) -> str:
    """The ``qsh`` claim: lower-case hex SHA-256 of the canonical request."""
    return sha256_hex(canonical_request(method, path, query, base_path=base_path, form=form))


@dataclass(frozen=True)
class QshTarget:
    """The request a token's ``qsh`` is bound to: ``path`` as sent, ``base_path`` the callee's prefix."""

    method: str
    path: str
    query: str = ""
    base_path: str = ""

    def hash(self) -> str:
        return query_string_hash(self.method, self.path, self.query, base_path=self.base_path)


# --- Minting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSpec:
    """Everything a Jira token is made from; ``mint`` turns it into a compact JWT, honest or forged.

    ``qsh`` is the request the token is bound to, or a fixed value (``CONTEXT_QSH``). ``audience`` is set only
    on signed installs, where ``aud`` is a list whose first item is the app's baseUrl (docs/protocol.md §2).
    """

    algorithm: Algorithm
    key: str | RSAPrivateKey
    issuer: str
    subject: str | None
    qsh: QshTarget | str
    lifetime: int = REQUEST_TOKEN_SECONDS
    audience: tuple[str, ...] = ()
    kid: str | None = None
    issued_at: int | None = None

    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = {"typ": "JWT", "alg": self.algorithm}
        if self.kid is not None:
            header["kid"] = self.kid
        return header

    def claims(self) -> dict[str, Any]:
        iat = int(time.time()) if self.issued_at is None else self.issued_at
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "iat": iat,
            "exp": iat + self.lifetime,
            "qsh": self.qsh.hash() if isinstance(self.qsh, QshTarget) else self.qsh,
        }
        if self.subject is not None:
            claims["sub"] = self.subject
        if self.audience:
            claims["aud"] = list(self.audience)
            # Two signed installs in one second are still two tokens: an app may accept each install token once.
            claims["jti"] = uuid.uuid4().hex
        return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def encode(header: Mapping[str, Any], claims: Mapping[str, Any], key: str | RSAPrivateKey) -> str:
    """A compact JWS signed by PyJWT under the header's ``alg``, with the header's other fields (``kid``)."""
    extra = {name: value for name, value in header.items() if name not in ("alg", "typ")}
    return jwt.encode(dict(claims), key, algorithm=str(header["alg"]), headers=extra or None)


def hmac_signed(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes) -> str:
    """An HMAC-SHA256 signature over any ``key``, under the header as given: the forgeries PyJWT rightly refuses
    to sign (HS256 keyed with an RSA public key's PEM, a ``kid`` that is not a string). Every other token, honest
    or forged, goes through ``encode``."""
    signing_input = f"{_b64_json(header)}.{_b64_json(claims)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def new_shared_secret() -> str:
    """An opaque secret shaped like Jira's: an ``ATCO`` prefix and random text (docs/protocol.md §2)."""
    return "ATCO" + secrets.token_urlsafe(48)


class Forgery(enum.Enum):
    """A named way a hostile party gets a token wrong; the value says what the app is sent instead."""

    ALG_NONE = "alg 'none' with an empty signature"
    HS256_WITH_PUBLIC_KEY = "an install signed HS256 with the RSA public key PEM as the HMAC key"
    WRONG_AUD = "an install whose aud is another app's baseUrl"
    WRONG_ISS = "iss names another tenant (not the body's clientKey)"
    EXPIRED = "expired an hour ago"
    MISSING_EXP = "no exp claim"
    MISSING_QSH = "no qsh claim"
    MISSING_ISS = "no iss claim"
    CONTEXT_QSH = "qsh 'context-qsh' on a request that needs a computed qsh"
    QSH_OTHER_METHOD = "qsh computed for another HTTP method"
    QSH_OTHER_PATH = "qsh computed for another path"
    QSH_OTHER_QUERY = "qsh computed for another query string"
    # S105: these values describe a secret, they are not one.
    OTHER_SITE_SECRET = "signed with another site's sharedSecret"  # noqa: S105
    PREVIOUS_SECRET = "signed with the sharedSecret the last reinstall rotated away"  # noqa: S105
    UNKNOWN_KID = "a kid the install-key service does not know"
    MISSING_KID = "no kid in the header"
    EMPTY_KID = "an empty kid"
    KID_NOT_STRING = "a kid that is a number"
    KID_PATH_TRAVERSAL = "a kid that climbs out of the key service's path"
    KID_URL = "a kid that is a URL on another host"
    KID_QUERY = "a kid with a query string and a fragment"
    KID_CONTROL_CHARS = "a kid with CR LF (header injection)"
    KID_TOO_LONG = "a 2 kB kid"
    TAMPERED_SIGNATURE = "a valid token with one signature byte flipped"
    GARBAGE = "not a JWT at all"
    TWO_SEGMENTS = "header and claims without a signature segment"
    OVERSIZED = "a correctly signed 100 kB token"

    def applies_to(self, spec: TokenSpec) -> bool:
        """Whether this forgery means anything for such a token (a kid trick needs an RS256 install, ...)."""
        if self in _INSTALL_ONLY:
            return spec.algorithm == "RS256"
        if self in _SUBSTITUTE_SECRET:
            return spec.algorithm == "HS256"
        if self in _REQUEST_BOUND_ONLY:
            return isinstance(spec.qsh, QshTarget)
        return True


_KID_VALUES: dict[Forgery, object] = {
    Forgery.EMPTY_KID: "",
    Forgery.KID_NOT_STRING: 42,
    Forgery.KID_PATH_TRAVERSAL: "../../../etc/passwd",
    Forgery.KID_URL: "https://attacker.example/install-key.pem",
    Forgery.KID_QUERY: "fake-jira/01?kid=other#fragment",
    Forgery.KID_CONTROL_CHARS: "fake-jira/01\r\nX-Injected: 1",
    Forgery.KID_TOO_LONG: "k" * 2048,
}
_INSTALL_ONLY = frozenset(
    {Forgery.HS256_WITH_PUBLIC_KEY, Forgery.WRONG_AUD, Forgery.UNKNOWN_KID, Forgery.MISSING_KID, *_KID_VALUES}
)
_REQUEST_BOUND_ONLY = frozenset(
    {Forgery.CONTEXT_QSH, Forgery.QSH_OTHER_METHOD, Forgery.QSH_OTHER_PATH, Forgery.QSH_OTHER_QUERY}
)
_SUBSTITUTE_SECRET = frozenset({Forgery.OTHER_SITE_SECRET, Forgery.PREVIOUS_SECRET})
_MISSING_CLAIMS = {Forgery.MISSING_EXP: "exp", Forgery.MISSING_QSH: "qsh", Forgery.MISSING_ISS: "iss"}


def _other_target(target: QshTarget, forgery: Forgery) -> QshTarget:
    if forgery is Forgery.QSH_OTHER_METHOD:
        return replace(target, method="DELETE" if target.method == "GET" else "GET")
    if forgery is Forgery.QSH_OTHER_PATH:
        return replace(target, path=target.path.rstrip("/") + "/other")
    return replace(target, query=f"{target.query}&other=1" if target.query else "other=1")


def public_pem(key: RSAPrivateKey) -> bytes:
    """The public half's PEM: the HMAC key of the key-confusion forgery."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def mint(spec: TokenSpec, forgery: Forgery | None = None, *, substitute_secret: str | None = None) -> str:
    """The token Jira would send for ``spec``, or the named forgery of it.

    ``substitute_secret`` is the key for ``OTHER_SITE_SECRET`` (without one, a fresh secret stands in for
    another site's) and ``PREVIOUS_SECRET`` (required: only the site knows what it rotated away).
    """
    if forgery is None:
        return encode(spec.header(), spec.claims(), spec.key)
    if not forgery.applies_to(spec):
        raise FakeJiraError(f"forgery {forgery.name} ({forgery.value}) means nothing for this token")
    if forgery in _REQUEST_BOUND_ONLY:
        assert isinstance(spec.qsh, QshTarget)  # guaranteed by applies_to()
        qsh = CONTEXT_QSH if forgery is Forgery.CONTEXT_QSH else _other_target(spec.qsh, forgery)
        return mint(replace(spec, qsh=qsh))
    if forgery is Forgery.EXPIRED:
        return mint(replace(spec, issued_at=int(time.time()) - 3600))
    if forgery is Forgery.WRONG_AUD:
        return mint(replace(spec, audience=("https://another-app.example.com",)))
    if forgery is Forgery.WRONG_ISS:
        return mint(replace(spec, issuer=str(uuid.uuid4())))
    if forgery is Forgery.UNKNOWN_KID:
        return mint(replace(spec, kid=f"fake-jira/unknown/{secrets.token_hex(4)}"))
    if forgery in _SUBSTITUTE_SECRET:
        if substitute_secret is None and forgery is Forgery.PREVIOUS_SECRET:
            raise FakeJiraError("forgery PREVIOUS_SECRET needs substitute_secret: the secret rotated away")
        return mint(replace(spec, key=substitute_secret or new_shared_secret()))
    header, claims = spec.header(), spec.claims()
    if forgery in _MISSING_CLAIMS:
        del claims[_MISSING_CLAIMS[forgery]]
        return encode(header, claims, spec.key)
    if forgery is Forgery.MISSING_KID:
        header.pop("kid", None)
        return encode(header, claims, spec.key)
    if forgery is Forgery.KID_NOT_STRING:
        # PyJWT will not put a non-string kid in a header; the signature is beside the point here.
        return hmac_signed({**header, "kid": _KID_VALUES[forgery]}, claims, b"unused")
    if forgery in _KID_VALUES:
        return encode({**header, "kid": _KID_VALUES[forgery]}, claims, spec.key)
    if forgery is Forgery.ALG_NONE:
        return encode({**header, "alg": "none"}, claims, "")
    if forgery is Forgery.HS256_WITH_PUBLIC_KEY:
        assert isinstance(spec.key, RSAPrivateKey)  # guaranteed by applies_to()
        return hmac_signed({**header, "alg": "HS256"}, claims, public_pem(spec.key))
    if forgery is Forgery.OVERSIZED:
        return encode(header, {**claims, "padding": "x" * 100_000}, spec.key)
    if forgery is Forgery.GARBAGE:
        return "not-a-jwt-" + secrets.token_hex(8)
    signing_input, _, signature = encode(header, claims, spec.key).rpartition(".")
    if forgery is Forgery.TWO_SEGMENTS:
        return signing_input
    # TAMPERED_SIGNATURE: the first byte flipped, so the segment still decodes but no longer verifies.
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0xFF
    return f"{signing_input}.{_b64(bytes(raw))}"


# --- Jira's check of the app's own tokens (app → Jira REST calls, docs/protocol.md §6) ------------------------


def token_from_authorization(authorization: str | None) -> str:
    """The token in ``Authorization: JWT <token>``; Unauthorized when there is none."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "jwt" or not token.strip():
        raise Unauthorized("this call needs an 'Authorization: JWT <token>' header signed by the app")
    return token.strip()


def unverified_claims(token: str) -> Mapping[str, Any]:
    """The claims read without any check, only to choose the key; Unauthorized if it is not a JWT."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the JWT could not be read ({type(exc).__name__})") from exc
    return claims


def signed_with(token: str, secret: str) -> bool:
    """Whether ``secret`` made the token's HS256 signature, whatever its claims say (for diagnostics only)."""
    try:
        jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return False
    return True


def verify_app_token(token: str, shared_secret: str, *, expected_qsh: str) -> Mapping[str, Any]:
    """Verify an app's HS256 token as Jira does: signature, required claims, expiry, then ``qsh``."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            shared_secret,
            algorithms=["HS256"],
            leeway=APP_TOKEN_LEEWAY_SECONDS,
            options={"require": list(APP_TOKEN_CLAIMS), "verify_aud": False},
        )
    except jwt.InvalidAlgorithmError as exc:
        raise Unauthorized("the JWT must be signed with HS256") from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("the JWT's signature does not verify with the site's current sharedSecret") from exc
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(f"the JWT has expired (leeway {APP_TOKEN_LEEWAY_SECONDS} s)") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"the JWT lacks the required '{exc.claim}' claim") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the JWT is invalid ({type(exc).__name__})") from exc
    if not hmac.compare_digest(str(claims["qsh"]).encode(), expected_qsh.encode()):
        raise Unauthorized("the JWT's qsh is not the hash of this method, path and query")
    return claims
