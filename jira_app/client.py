"""Calls from the app to a tenant's Jira REST API, each signed as the app (docs/protocol.md §6).

Every request gets its own HS256 token: ``iss`` = the app key, ``qsh`` of exactly the request sent,
``exp`` three minutes ahead, signed with that tenant's sharedSecret. Requests go to the tenant's stored
baseUrl only: a path is required, never a full URL, so a signed request cannot leave the site.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from jira_app import qsh
from jira_app.conf import conf
from jira_app.models import AtlassianHost

TOKEN_LIFETIME_SECONDS = 180


class HostRequestError(Exception):
    """A call to the tenant's Jira failed; the message says why and holds no secret."""


class AtlassianHostRestClient:
    """A REST client for one tenant, acting as the app (ACE: ``httpClient``; Spring Boot: ``authenticatedAsAddon``)."""

    def __init__(self, host: AtlassianHost, session: requests.Session | None = None) -> None:
        self.host = host
        self.session = session or requests.Session()

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"expected a path relative to the site's baseUrl, got {path!r}")
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        url = self.host.base_url.rstrip("/") + path
        prepared = self.session.prepare_request(
            requests.Request(method.upper(), url, params=params, headers=headers, **kwargs)
        )
        assert prepared.url is not None
        assert prepared.method is not None
        prepared.headers["Authorization"] = "JWT " + self.token_for(prepared.method, prepared.url)
        timeout = conf.host_request_timeout
        try:
            return self.session.send(prepared, timeout=timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise HostRequestError(f"{self.host.base_url} did not answer within {timeout:g} s") from exc
        except requests.RequestException as exc:
            raise HostRequestError(f"{self.host.base_url} could not be reached ({type(exc).__name__})") from exc

    def token_for(self, method: str, url: str) -> str:
        """The JWT for one outgoing request: hashed over the exact method, path and query sent."""
        now = int(time.time())
        claims = {
            "iss": conf.app_key,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "qsh": qsh.qsh_for_url(method, url, self.host.base_url),
        }
        return jwt.encode(claims, self.host.shared_secret.reveal(), algorithm="HS256")

    def get_json(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON; HostRequestError says what went wrong otherwise."""
        response = self.request("GET", path, params=params)
        where = f"GET {urlsplit(response.url).path}"
        if response.status_code != 200:
            raise HostRequestError(f"{where} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise HostRequestError(f"{where} did not answer with JSON") from exc
