"""The Forge platform: installations, invocations of the remote, lifecycle triggers, the API gateway.

Forge reaches the app's remote through the app's transport (in process or over HTTP), with the headers of
Forge's remote contract. The app reaches Forge through ``ForgeJira``'s URLs: the JWKS and the API gateway at
``apiBaseUrl`` (``<forge>/api/ex/jira/<cloudId>``), which answers Jira's REST routes for a bearer of a
system token this platform issued for that site, acting as the Connect installation's app user.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fake_jira import handlers
from fake_jira import urls as routes
from fake_jira.exceptions import FakeJiraError, JiraApiError, NotFound, Unauthorized
from fake_jira.forge import tokens
from fake_jira.forge.keys import ForgeKeySet
from fake_jira.forge.tokens import FitForgery, FitSpec
from fake_jira.messages import Request, Response, request_line
from fake_jira.models import Direction, Event, User
from fake_jira.simulator import FakeJira, call_rest
from fake_jira.urls import UrlScheme

if TYPE_CHECKING:
    from fake_jira.descriptor import ConnectApp
    from fake_jira.sites import JiraSite
    from fake_jira.transports import AppTransport

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"
# Forge retries an event delivery that failed up to 4 times (Forge Remote essentials).
MAX_TRIGGER_RETRIES = 4
SYSTEM_TOKEN_SECONDS = 15 * 60
_GATEWAY_PATH = re.compile(r"/ex/jira/(?P<cloud_id>[A-Za-z0-9-]+)(?P<rest>/.*)")


@dataclass(frozen=True)
class ForgeApp:
    """A Forge app with a remote: its ARI, the Connect app it carries, and where its remote endpoints are.

    Paths are request targets on the app's transport (the remote's baseUrl path plus the endpoint's route).
    """

    app_id: str
    connect: ConnectApp
    lifecycle_path: str
    version: str = "1.0.0"

    @property
    def transport(self) -> AppTransport:
        return self.connect.transport

    @property
    def environment_id(self) -> str:
        return f"ari:cloud:ecosystem::environment/{self.app_id.rsplit('/', 1)[-1]}/production"


@dataclass
class ForgeInstallation:
    """The app on one site, as Forge knows it."""

    app: ForgeApp
    site: JiraSite
    installation_id: str
    cloud_id: str
    api_base_url: str
    version: str
    ic_label: str | None = None
    sent: list[Response] = field(default_factory=list)

    def fit_spec(self, module_key: str, user: User | None) -> FitSpec:
        return FitSpec(
            app_id=self.app.app_id,
            app_version=self.version,
            installation_id=self.installation_id,
            api_base_url=self.api_base_url,
            environment_id=self.app.environment_id,
            cloud_id=self.cloud_id,
            site_url=self.site.base_url,
            module_key=module_key,
            principal=user.account_id if user else None,
            ic_label=self.ic_label,
        )


@dataclass(frozen=True)
class _IssuedToken:
    installation: ForgeInstallation
    expires_at: float


class ForgePlatform:
    """Forge for one ForgeJira: its keys, its installations, and the tokens it issued."""

    def __init__(self, fake: FakeJira, root_url: str) -> None:
        self._fake = fake
        self.root_url = root_url.rstrip("/")
        self.keys = ForgeKeySet()
        self._installations: dict[tuple[str, str], ForgeInstallation] = {}
        self._system_tokens: dict[str, _IssuedToken] = {}
        self._lock = threading.Lock()

    @property
    def jwks_url(self) -> str:
        """The app's ATLASSIAN_FORGE_JWKS_URL."""
        return f"{self.root_url}/.well-known/jwks.json"

    @property
    def api_url(self) -> str:
        return f"{self.root_url}/api"

    def owns(self, url: str) -> bool:
        return routes.remainder(url, self.root_url) is not None

    # --- Installations ------------------------------------------------------------------------------------

    @staticmethod
    def cloud_id(site: JiraSite) -> str:
        """A site's cloudId: stable for its name, as a real site's is for its life."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, site.base_url))

    def link(self, site: JiraSite, app: ForgeApp) -> ForgeInstallation:
        """A new Forge installation of ``app`` on ``site``; the site's next Connect install body names it."""
        cloud_id = self.cloud_id(site)
        installation = ForgeInstallation(
            app, site, f"ari:cloud:ecosystem::installation/{uuid.uuid4()}", cloud_id,
            f"{self.api_url}/ex/jira/{cloud_id}", app.version,
        )  # fmt: skip
        with self._lock:
            self._installations[(site.name, app.app_id)] = installation
        site.forge_installation_ids[app.connect.key] = installation.installation_id
        return installation

    def installation(self, site: JiraSite, app: ForgeApp) -> ForgeInstallation:
        found = self._installations.get((site.name, app.app_id))
        if found is None:
            raise FakeJiraError(f"app {app.app_id!r} is not installed on site {site.name!r} through Forge")
        return found

    def install(self, site: JiraSite, app: ForgeApp, *, user: User | None = None) -> ForgeInstallation:
        """Install as Forge does a Connect-on-Forge app: the Connect install (its body naming the installation),
        then the ``avi:forge:installed:app`` trigger. ``installation.sent`` holds what the app answered."""
        installation = self.link(site, app)
        response = site.install(app.connect, user=user)
        installation.sent.append(response)
        if response.ok:
            installation.sent.extend(self.fire(installation, INSTALLED, user=user))
        return installation

    def upgrade_from_connect(self, site: JiraSite, app: ForgeApp) -> ForgeInstallation:
        """A site whose Connect install Atlassian moved to Forge without any callback reaching the app."""
        site.installation(app.connect)  # the Connect install must exist
        return self.link(site, app)

    def upgrade(self, installation: ForgeInstallation, version: str, *, user: User | None = None) -> list[Response]:
        installation.version = version
        return self.fire(installation, UPGRADED, user=user)

    # --- Calls to the remote ------------------------------------------------------------------------------

    def fire(
        self, installation: ForgeInstallation, event: str, *, user: User | None = None, deliveries: int = 1
    ) -> list[Response]:
        """Deliver a lifecycle event to the remote's lifecycle endpoint, each attempt with a fresh FIT.

        A failed delivery (not 2xx) is retried up to 4 times. ``deliveries`` > 1 sends that many copies even
        when the first succeeds, as Forge does when an answer is lost or late.
        """
        actor = user or installation.site.admin
        body: dict[str, Any] = {
            "eventType": event,
            "id": installation.installation_id,
            "app": {"id": installation.app.app_id, "version": installation.version},
            "environment": {"id": installation.app.environment_id},
            "context": {"cloudId": installation.cloud_id},
        }
        body["installerAccountId" if event == INSTALLED else "upgraderAccountId"] = actor.account_id
        responses: list[Response] = []
        for attempt in range(MAX_TRIGGER_RETRIES + 1):
            response = self.invoke(
                installation, "POST", installation.app.lifecycle_path, body=body, module_key="lifecycle-endpoint",
                action=f"{event}" + (f" (retry {attempt})" if attempt else ""),
            )  # fmt: skip
            responses.append(response)
            if response.ok and len(responses) >= deliveries:
                break
        return responses

    def invoke(
        self,
        installation: ForgeInstallation,
        method: str,
        target: str,
        *,
        user: User | None = None,
        body: Any = None,
        module_key: str = "page-endpoint",
        forgery: FitForgery | None = None,
        token: str | None = None,
        action: str | None = None,
    ) -> Response:
        """Call a remote endpoint as Forge does: ``Authorization: Bearer <FIT>``, trace ids, and the app's system
        token (and the user's, for a user's call). ``token`` sends that FIT instead (a replay)."""
        fit = token or tokens.mint(installation.fit_spec(module_key, user), self.keys, forgery)
        headers = {
            "Authorization": f"Bearer {fit}",
            "x-b3-traceid": secrets.token_hex(16),
            "x-b3-spanid": secrets.token_hex(8),
            "x-forge-oauth-system": self._issue(installation),
        }
        if user is not None:
            headers["x-forge-oauth-user"] = "fake-forge-user-" + secrets.token_urlsafe(32)
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        response = installation.app.transport.send(method, target, headers=headers, body=data)
        self._fake.record(
            Event(Direction.TO_APP, installation.site.name, action or f"forge {module_key}",
                  request_line(method, target), response.status)
        )  # fmt: skip
        return response

    def mint(
        self, installation: ForgeInstallation, *, user: User | None = None, forgery: FitForgery | None = None
    ) -> str:
        return tokens.mint(installation.fit_spec("page-endpoint", user), self.keys, forgery)

    def _issue(self, installation: ForgeInstallation) -> str:
        token = "fake-forge-system-" + secrets.token_urlsafe(32)
        with self._lock:
            self._system_tokens[token] = _IssuedToken(installation, time.time() + SYSTEM_TOKEN_SECONDS)
        return token

    # --- Forge's own URLs: the JWKS and the API gateway -----------------------------------------------------

    def handle(self, request: Request) -> Response:
        rest = request.path.removeprefix(urlsplit(self.root_url).path)
        if rest == "/.well-known/jwks.json" and request.method == "GET":
            response = Response.from_json(200, self.keys.jwks())
            self._fake.record(Event(Direction.FROM_APP, None, "forge jwks", request.summary(), response.status))
            return response
        gateway_path = rest.removeprefix("/api") if rest.startswith("/api/") else None
        found = _GATEWAY_PATH.fullmatch(gateway_path) if gateway_path else None
        if found is None:
            return handlers.error_response(NotFound(f"no such Forge resource: {request.path}"))
        return self._gateway(request, found.group("cloud_id"), found.group("rest"))

    def _gateway(self, request: Request, cloud_id: str, path: str) -> Response:
        site_name, detail = None, ""
        try:
            installation = self._authenticate(request, cloud_id)
            site_name = installation.site.name
            connect_installation = installation.site.installation(installation.app.connect)
            if not connect_installation.active:
                raise Unauthorized("the app is disabled or uninstalled on this site")
            response = call_rest(installation.site.state, connect_installation, request, path)
        except JiraApiError as error:
            response, detail = handlers.error_response(error), str(error)
        self._fake.record(
            Event(Direction.FROM_APP, site_name, "Forge REST", request.summary(), response.status, detail)
        )
        return response

    def _authenticate(self, request: Request, cloud_id: str) -> ForgeInstallation:
        scheme, _, token = str(request.headers.get("Authorization", "")).partition(" ")
        issued = self._system_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued.expires_at < time.time():
            raise Unauthorized("expected 'Authorization: Bearer <app system token>' issued by Forge")
        if issued.installation.cloud_id != cloud_id:
            raise Unauthorized("the system token was issued for another site")
        return issued.installation


IN_PROCESS_FORGE_ROOT = "https://forge.fake-jira.test"


def forge_app_env(fake: ForgeJira, app_id: str) -> dict[str, str]:
    """The settings an app needs to be this fake Forge's remote for the Forge app ``app_id``."""
    return {"ATLASSIAN_FORGE_APP_ID": app_id, "ATLASSIAN_FORGE_JWKS_URL": fake.forge.jwks_url}


class ForgeJira(FakeJira):
    """A FakeJira that is also the Forge platform: its ``forge`` answers at ``<control origin>/forge``."""

    def __init__(self, urls: UrlScheme | None = None) -> None:
        super().__init__(urls)
        self.forge = ForgePlatform(self, self._forge_root())

    def _forge_root(self) -> str:
        """Beside the control plane on a server; in process, a host of its own that only the router answers."""
        if self.urls.control_url is None:
            return IN_PROCESS_FORGE_ROOT
        parts = urlsplit(self.urls.control_url)
        return f"{parts.scheme}://{parts.netloc}/forge"

    def owns(self, url: str) -> bool:
        return self.forge.owns(url) or super().owns(url)

    def handle(self, request: Request) -> Response:
        return self.forge.handle(request) if self.forge.owns(request.url) else super().handle(request)

    def reset(self) -> None:
        super().reset()
        self.forge = ForgePlatform(self, self._forge_root())
