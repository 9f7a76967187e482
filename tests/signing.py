"""Tokens as Jira and Atlassian sign them, for the app's tests (PyJWT; qsh from jira_app.qsh, itself pinned by
the official vectors in tests/jira_app/test_qsh.py)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from jira_app import qsh

APP_BASE_URL = "https://app.example.test"
KEYS_URL = "https://install-keys.example.test/keys"
APP_KEY = "my-jira-test-app-dev"


def host_token(
    client_key: str,
    secret: str,
    method: str = "GET",
    path: str = "/jira/hello.html",
    query: str = "",
    *,
    sub: str | None = "557058:alice",
    lifetime: int = 180,
    qsh_value: str | None = None,
    **claims: Any,
) -> str:
    """An HS256 token from a Jira site, bound to one request (or carrying ``qsh_value``)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": client_key,
        "iat": now,
        "exp": now + lifetime,
        "qsh": qsh_value if qsh_value is not None else qsh.query_string_hash(method, path, query),
    }
    if sub:
        payload["sub"] = sub
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def context_token(client_key: str, secret: str, *, sub: str | None = "557058:alice") -> str:
    return host_token(client_key, secret, sub=sub, lifetime=900, qsh_value=qsh.CONTEXT_QSH)


@dataclass
class Site:
    """A Jira site as the app's tests see it: its identity and the secret it shares with the app."""

    name: str = "acme"
    client_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str = field(default_factory=lambda: "ATCO" + uuid.uuid4().hex + uuid.uuid4().hex)

    @property
    def base_url(self) -> str:
        return f"https://{self.name}.atlassian.net"

    def lifecycle_body(self, event: str, **overrides: Any) -> bytes:
        body: dict[str, Any] = {
            "key": APP_KEY,
            "clientKey": self.client_key,
            "baseUrl": self.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {self.base_url}",
            "eventType": event,
            "oauthClientId": "oauth-" + self.name,
        }
        if event == "installed":
            body["sharedSecret"] = self.secret
        body.update(overrides)
        return json.dumps({k: v for k, v in body.items() if v is not None}).encode()

    def rotate(self) -> str:
        """A reinstall brings a new secret; returns the old one."""
        old, self.secret = self.secret, "ATCO" + uuid.uuid4().hex + uuid.uuid4().hex
        return old


@dataclass
class InstallSigner:
    """Signs installed/uninstalled callbacks as Atlassian does: RS256 with a key the key service serves.

    Each token carries a unique ``jti``, so that two callbacks a test signs within one second are two tokens:
    the app accepts each install token once, and a token is its bytes.
    """

    private_key: rsa.RSAPrivateKey
    kid: str

    def token(self, client_key: str, path: str = "/jira/installed", *, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": client_key,
            "sub": "557058:admin",
            "aud": [APP_BASE_URL],
            "iat": now,
            "exp": now + 180,
            "qsh": qsh.query_string_hash("POST", path),
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload, self.private_key, algorithm="RS256", headers={"kid": self.kid if kid is None else kid}
        )
