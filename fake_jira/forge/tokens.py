"""Forge Invocation Tokens (FITs) as Forge mints them, and the named forgeries the Forge checks send instead.

Claim shapes follow Forge's remote contract: ``iss`` ``forge/invocation-token``, ``aud`` the app's ARI,
``iat``/``nbf``/``exp``/``jti``, and ``app.{id, version, installationId, apiBaseUrl, environment, module,
installation.contexts}``; ``context`` and ``principal`` only on calls from a user's UI.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from fake_jira import tokens
from fake_jira.forge.keys import ForgeKeySet

ISSUER = "forge/invocation-token"
# Forge gives remote calls 25 s (UI) or 5 s (events); its tokens outlive that by a little.
FIT_LIFETIME_SECONDS = 60


class FitForgery(enum.Enum):
    """A way an attacker gets a FIT wrong; the value says what the app is sent instead."""

    WRONG_AUD = "aud is another app's ARI"
    WRONG_ISS = "iss is not forge/invocation-token"
    EXPIRED = "expired ten minutes ago"
    NOT_YET_VALID = "nbf and iat ten minutes in the future"
    UNKNOWN_KID = "a kid Forge never published"
    HS256 = "HS256 keyed with Forge's public key"
    ALG_NONE = "alg 'none' with an empty signature"
    OTHER_JWKS_KEY = "signed by a key from another JWKS, under Forge's current kid"
    HOSTILE_IC_LABEL = "icLabel '../../evil.example/x'"
    MISSING_JTI = "no jti"


@dataclass(frozen=True)
class FitSpec:
    """What one FIT says: the installation, the endpoint (module) called, and the user behind a UI call."""

    app_id: str
    app_version: str
    installation_id: str
    api_base_url: str
    environment_id: str
    cloud_id: str
    site_url: str
    module_key: str
    principal: str | None = None
    ic_label: str | None = None
    issued_at: int | None = None

    def claims(self) -> dict[str, Any]:
        iat = int(time.time()) if self.issued_at is None else self.issued_at
        app: dict[str, Any] = {
            "id": self.app_id,
            "version": self.app_version,
            "installationId": self.installation_id,
            "apiBaseUrl": self.api_base_url,
            "environment": {"type": "PRODUCTION", "id": self.environment_id},
            "module": {"type": "core:endpoint", "key": self.module_key},
            "license": {"isActive": True},
            "installation": {"contexts": [f"ari:cloud:jira::site/{self.cloud_id}"]},
        }
        if self.ic_label is not None:
            app["icLabel"] = self.ic_label
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": self.app_id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + FIT_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
            "app": app,
        }
        if self.principal is not None:
            claims["principal"] = self.principal
            claims["context"] = {"cloudId": self.cloud_id, "siteUrl": self.site_url, "moduleKey": self.module_key}
        return claims


def mint(spec: FitSpec, keys: ForgeKeySet, forgery: FitForgery | None = None) -> str:
    """The FIT for ``spec`` signed with the current key, or the named forgery of it."""
    claims, key, kid = spec.claims(), keys.current.private_key, keys.current.kid
    if forgery is FitForgery.WRONG_AUD:
        claims["aud"] = claims["app"]["id"] = f"ari:cloud:ecosystem::app/{uuid.uuid4()}"
    elif forgery is FitForgery.WRONG_ISS:
        claims["iss"] = "forge/not-an-invocation-token"
    elif forgery in (FitForgery.EXPIRED, FitForgery.NOT_YET_VALID):
        shift = -600 if forgery is FitForgery.EXPIRED else 600
        claims.update(iat=claims["iat"] + shift, nbf=claims["nbf"] + shift, exp=claims["exp"] + shift)
    elif forgery is FitForgery.UNKNOWN_KID:
        kid = f"{kid}-never-published"
    elif forgery is FitForgery.OTHER_JWKS_KEY:
        key = ForgeKeySet("attacker").current.private_key
    elif forgery is FitForgery.HOSTILE_IC_LABEL:
        claims["app"]["icLabel"] = "../../evil.example/x"
    elif forgery is FitForgery.MISSING_JTI:
        del claims["jti"]
    elif forgery is FitForgery.HS256:
        return tokens.hmac_signed({"alg": "HS256", "typ": "JWT", "kid": kid}, claims, tokens.public_pem(key))
    elif forgery is FitForgery.ALG_NONE:
        return jwt.encode(claims, "", algorithm="none", headers={"kid": kid})
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
