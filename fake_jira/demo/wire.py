"""What went over the wire: each request as sent, its token in a few words, and (``--explain``) in full."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from fake_jira import tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.forge.tokens import ISSUER as FIT_ISSUER
from fake_jira.messages import Response
from fake_jira.transports import AppTransport


def fingerprint_of(secret: str) -> str:
    """Enough of a secret's SHA-256 to tell two secrets apart on screen; the secret itself is never shown."""
    return hashlib.sha256(secret.encode()).hexdigest()[:4] + "…"


def short(text: str, length: int = 8) -> str:
    return text if len(text) <= length else text[:length] + "…"


@dataclass(frozen=True)
class Sent:
    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def token(self) -> str:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme in ("JWT", "Bearer"):  # Bearer: a Forge Invocation Token
            return token
        return next((p[4:] for p in self.target.partition("?")[2].split("&") if p.startswith("jwt=")), "")

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Recorder:
    """Passes each request on to the app and keeps the last one, so a line shows what really went out."""

    def __init__(self, transport: AppTransport) -> None:
        self.transport = transport
        self._last: Sent | None = None

    def take(self) -> Sent | None:
        """The request sent since the last take(), if any."""
        sent, self._last = self._last, None
        return sent

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        self._last = Sent(method, target, dict(headers), body)
        return self.transport.send(method, target, headers=headers, body=body)


def _decoded(sent: Sent) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    try:
        return jwt.get_unverified_header(sent.token), jwt.decode(sent.token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None


def _canonical(app: ConnectApp, sent: Sent) -> str:
    path, _, query = sent.target.partition("?")
    return tokens.canonical_request(sent.method, path, query, base_path=app.base_path)


def describe_token(app: ConnectApp, sent: Sent) -> str:
    """The token's shape in a few words: algorithm, key id, audience, lifetime and what its qsh is bound to."""
    decoded = _decoded(sent)
    if decoded is None:
        return "not a JWT"
    header, claims = decoded
    fit = claims.get("iss") == FIT_ISSUER
    parts = [str(header.get("alg"))]
    if "kid" in header:
        # Forge's kids differ only at their end, after a rotation.
        parts.append(f"kid {short(str(header['kid']), 24 if fit else 12)}")
    if fit:
        return ", ".join([*parts, *_describe_fit(claims)])
    audience = claims.get("aud")
    if audience:
        own = app.base_url in (audience if isinstance(audience, list) else [audience])
        parts.append("aud = the app's baseUrl" if own else f"aud {audience}")
    if isinstance(claims.get("exp"), int) and isinstance(claims.get("iat"), int):
        seconds = claims["exp"] - claims["iat"]
        parts.append(f"{seconds // 60} min" if seconds % 60 == 0 and seconds > 300 else f"{seconds} s")
    qsh = claims.get("qsh")
    if qsh == tokens.CONTEXT_QSH:
        parts.append('qsh "context-qsh"')
    elif qsh == tokens.sha256_hex(_canonical(app, sent)):
        parts.append("qsh of this request")
    else:
        parts.append("qsh of another request" if qsh else "no qsh")
    return ", ".join(parts)


def _describe_fit(claims: Mapping[str, Any]) -> list[str]:
    """A Forge Invocation Token: for which endpoint, how long, the jti that makes it single-use."""
    app = claims.get("app")
    module = app.get("module") if isinstance(app, Mapping) else None
    parts = [f"FIT for {module.get('key')}" if isinstance(module, Mapping) else "FIT"]
    if "principal" in claims:
        parts.append("a user's call")
    if isinstance(claims.get("exp"), int) and isinstance(claims.get("iat"), int):
        parts.append(f"{claims['exp'] - claims['iat']} s")
    parts.append(f"jti {short(str(claims['jti']))}" if "jti" in claims else "no jti")
    return parts


def describe_request(app: ConnectApp, sent: Sent, note: str = "") -> str:
    """``GET /path?…&jwt=<token shape>`` or ``POST /path  JWT <token shape>``: the query and secrets elided."""
    token = describe_token(app, sent) + (f", {note}" if note else "")
    path, _, query = sent.target.partition("?")
    if "jwt=" in query:
        return f"{sent.method} {path}?…&jwt=<{token}>"
    scheme = "Bearer" if sent.headers.get("Authorization", "").startswith("Bearer ") else "JWT"
    return f"{sent.method} {path}{'?…' if query else ''}  {scheme} <{token}>"


def explain(
    app: ConnectApp, sent: Sent, secrets: Mapping[str, str], keys_url: str, forge_jwks_url: str | None = None
) -> list[tuple[str, str]]:
    """``--explain``: the token's header and claims, who signed it, the body (secrets as fingerprints), the
    canonical request and its hash, as (label, text) pairs.

    ``secrets`` names every sharedSecret the story has handed out (``"acme's current sharedSecret"`` → secret),
    so that an HS256 signature can be attributed without showing any of them. A Forge Invocation Token is
    bound to no request: its rows say what binds it instead.
    """
    decoded = _decoded(sent)
    if decoded is None:
        return [("token", "none, or not a JWT")]
    header, claims = decoded
    rows = [("header", _compact(header)), ("claims", _compact(claims))]
    if claims.get("iss") == FIT_ISSUER:
        return [*rows, *_explain_fit(header, forge_jwks_url)]
    if header.get("alg") == "RS256":
        rows.append(("signed", f"RS256 by Atlassian; the app fetches the public key from {keys_url}/<kid>"))
    elif header.get("alg") == "HS256":
        signer = next((name for name, secret in secrets.items() if tokens.signed_with(sent.token, secret)), None)
        rows.append(("signed", f"HS256 with {signer}" if signer else "HS256 with no secret this story handed out"))
    else:
        rows.append(("signed", f"alg {header.get('alg')!r}: not a signature any Connect app accepts"))
    body = sent.json() if sent.body.startswith(b"{") else None
    if isinstance(body, dict):
        shown = {k: _fingerprinted(k, v) for k, v in body.items() if k in _BODY_FIELDS}
        rows.append(("body", _compact(shown) + (" …" if len(shown) < len(body) else "")))
    canonical = _canonical(app, sent)
    computed = tokens.sha256_hex(canonical)
    rows.append(("canonical", canonical))
    qsh = claims.get("qsh")
    if qsh == tokens.CONTEXT_QSH:
        verdict = 'the token says "context-qsh": bound to no request, accepted only where the app allows it'
    elif qsh == computed:
        verdict = "= the token's qsh"
    else:
        verdict = f"≠ the token's qsh {qsh!r}"
    rows.append(("sha256", f"{computed} {verdict}"))
    return rows


def _explain_fit(header: Mapping[str, Any], jwks_url: str | None) -> list[tuple[str, str]]:
    if header.get("alg") == "RS256":
        signed = f"RS256 by Forge; the app fetches Forge's keys from {jwks_url or 'its JWKS URL'}, by kid"
    else:
        signed = f"alg {header.get('alg')!r}: not a signature a Forge remote accepts (RS256 only)"
    bound = "no qsh: aud binds it to one app, exp to a minute, jti to a single call"
    return [("signed", signed), ("bound", bound)]


# The lifecycle body fields worth showing; the rest (description, productType, ...) is elided.
_BODY_FIELDS = ("key", "clientKey", "sharedSecret", "baseUrl", "eventType")


def _fingerprinted(name: str, value: Any) -> Any:
    return f"<secret fingerprint {fingerprint_of(str(value))}>" if name == "sharedSecret" else value


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def install_body(rotated_from: str | None) -> Callable[[Sent], str]:
    """What an install's body brought: its clientKey and its secret's fingerprint (and the one it replaces)."""

    def extra(sent: Sent) -> str:
        body = sent.json() or {}
        secret = fingerprint_of(str(body.get("sharedSecret", "")))
        was = f", was {fingerprint_of(rotated_from)}" if rotated_from else ""
        return f"+ clientKey {short(str(body.get('clientKey')))}, sharedSecret (secret fingerprint {secret}{was})"

    return extra
