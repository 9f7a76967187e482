"""Calls from the app to a tenant's Jira REST API, each signed as the app (docs/protocol.md §6).

Every request gets its own HS256 token: ``iss`` = the app key, ``qsh`` of exactly the request sent,
``exp`` three minutes ahead, signed with that tenant's sharedSecret. Requests go to the tenant's stored
baseUrl only: a path is required, never a full URL, so a signed request cannot leave the site. The URL is
built from baseUrl as jira_app.hosts parses it, the connection goes only to a public address (SiteAdapter),
and each call has a total deadline and a cap on the answer's size: the tenant runs the server at the other end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from jira_app import bodies, hosts, qsh
from jira_app.adapters import ForbiddenAddress, SiteAdapter, deadline
from jira_app.conf import conf
from jira_app.crypto import Secret
from jira_app.models import AtlassianHost

TOKEN_LIFETIME_SECONDS = 180
_CHUNK_BYTES = 64 * 1024


class HostRequestError(Exception):
    """A call to the tenant's Jira failed; the message says why and holds no secret."""


@dataclass(frozen=True)
class HostResponse:
    """A site's complete answer, read within the deadline and the size cap."""

    status_code: int
    url: str
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON, within the bounds every JSON the app reads gets (jira_app.bodies)."""
        return bodies.loads(self.content)


class RestClient:
    """Calls to one Atlassian API root, each carrying the ``authorization`` a subclass gives.

    A given ``session`` is used with SiteAdapter mounted on it, so its own settings (headers, certificates)
    apply but not its transport: the connection goes only to a public address.
    """

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()
        adapter = SiteAdapter(allow_loopback=conf.allow_loopback_sites)
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, adapter)

    def site(self) -> hosts.SiteUrl:
        """The API root, parsed as jira_app.hosts checks it; HostRequestError if it cannot be requested."""
        raise NotImplementedError

    def authorization(self, method: str, url: str) -> str:
        raise NotImplementedError

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any) -> HostResponse:
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"expected a path relative to the site's baseUrl, got {path!r}")
        site = self.site()
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        prepared = self.session.prepare_request(
            requests.Request(method.upper(), site.url + path, params=params, headers=headers, **kwargs)
        )
        assert prepared.url is not None
        assert prepared.method is not None
        prepared.headers["Authorization"] = self.authorization(prepared.method, prepared.url)
        seconds = conf.host_request_timeout
        with deadline(seconds) as budget:
            try:
                with self.session.send(prepared, timeout=seconds, allow_redirects=False, stream=True) as response:
                    content = _read_capped(response, conf.host_response_max_bytes)
            except ForbiddenAddress as exc:
                raise HostRequestError(f"{site} is not a public address: the app does not call it") from exc
            except requests.RequestException as exc:
                if budget.expired or isinstance(exc, requests.Timeout):
                    raise HostRequestError(f"{site} did not answer within {seconds:g} s") from exc
                raise HostRequestError(f"{site} could not be reached ({type(exc).__name__})") from exc
        return HostResponse(response.status_code, response.url, dict(response.headers), content)

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


class AtlassianHostRestClient(RestClient):
    """A REST client for one tenant, acting as the app (ACE: ``httpClient``; Spring Boot: ``authenticatedAsAddon``)."""

    def __init__(self, host: AtlassianHost, session: requests.Session | None = None) -> None:
        super().__init__(session)
        self.host = host

    def site(self) -> hosts.SiteUrl:
        try:
            return hosts.parse(self.host.base_url)
        except hosts.InvalidSiteUrl as exc:
            # Stored before install checked it this strictly, or changed by hand: never requested as it is.
            raise HostRequestError(f"the site's stored baseUrl cannot be requested: {exc}") from None

    def authorization(self, method: str, url: str) -> str:
        return "JWT " + self.token_for(method, url)

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


class ForgeApiClient(RestClient):
    """A REST client for one Forge call, acting as the app: the call's ``apiBaseUrl`` and its system token.

    The token came in the ``x-forge-oauth-system`` header of the request being served, and the client lives
    no longer than that request: it is sent only to that apiBaseUrl, and never parsed, logged or kept.
    """

    def __init__(self, api_base_url: str, system_token: Secret, session: requests.Session | None = None) -> None:
        super().__init__(session)
        self.api_base_url = api_base_url
        self.system_token = system_token

    def site(self) -> hosts.SiteUrl:
        try:
            return hosts.parse(self.api_base_url, field="apiBaseUrl")
        except hosts.InvalidSiteUrl as exc:
            raise HostRequestError(f"the invocation's apiBaseUrl cannot be requested: {exc}") from None

    def authorization(self, method: str, url: str) -> str:
        return "Bearer " + self.system_token.reveal()


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The body, or HostRequestError once it is known to be longer than ``max_bytes``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise HostRequestError(f"the answer is larger than {max_bytes} bytes")
    content = bytearray()
    for chunk in response.iter_content(_CHUNK_BYTES):
        content += chunk
        if len(content) > max_bytes:
            raise HostRequestError(f"the answer is larger than {max_bytes} bytes")
    return bytes(content)
