"""FakeJira: any number of simulated Jira Cloud sites, Atlassian's install-key service, and the event log.

``FakeJira.handle`` answers every Jira-shaped URL (the key service, each site's REST API), whichever way the
request came in: the ``responses`` router in process, or the HTTP server, which adds the control plane.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from urllib.parse import unquote

from fake_jira import handlers, scopes, urls
from fake_jira.descriptor import ConnectApp, check_descriptor
from fake_jira.exceptions import (
    DescriptorError,
    DescriptorUnavailable,
    FakeJiraError,
    JiraApiError,
    MethodNotAllowed,
    NotFound,
)
from fake_jira.keys import InstallKeyService
from fake_jira.messages import Request, Response, request_line
from fake_jira.models import Direction, Event, Installation, Site
from fake_jira.sites import JiraSite
from fake_jira.transports import AppTransport
from fake_jira.urls import REST_ROUTES, UrlScheme

# A site name becomes a host label (acme.atlassian.net) or a path segment (/sites/acme).
_SITE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class FakeJira:
    """The simulator. ``urls`` says where it lives: in process (the default) or on a server (``served_at``)."""

    def __init__(self, urls: UrlScheme | None = None) -> None:
        self.urls = urls or UrlScheme.in_process()
        self.keys = InstallKeyService()
        self.events: list[Event] = []
        self._sites: dict[str, JiraSite] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FakeJira keys={self.keys_url} sites={sorted(self._sites)}>"

    @property
    def keys_url(self) -> str:
        """Where apps fetch install keys, as ``<keys_url>/<kid>``: the app's install-keys setting."""
        return self.urls.keys_url

    @property
    def sites(self) -> list[JiraSite]:
        return list(self._sites.values())

    def add_site(self, name: str, *, display_url: str | None = None, licensed: bool = False) -> JiraSite:
        """A new site with its own baseUrl and clientKey, and one user, its admin.

        ``licensed`` gives installs a serviceEntitlementNumber and pages ``lic=active``.
        """
        if not _SITE_NAME.fullmatch(name):
            raise FakeJiraError(f"site name {name!r} must be a host label: lower-case letters, digits and '-'")
        with self._lock:
            if name in self._sites:
                raise FakeJiraError(f"there is already a site named {name!r}")
            state = Site(name, self.urls.site_base_url(name), display_url=display_url, licensed=licensed)
            site = self._sites[name] = JiraSite(self, state)
        return site

    def site(self, name: str) -> JiraSite:
        try:
            return self._sites[name]
        except KeyError:
            raise FakeJiraError(f"no site named {name!r}; there are {sorted(self._sites)}") from None

    def site_for_url(self, url: str) -> JiraSite | None:
        return next((site for site in self.sites if urls.remainder(url, site.base_url) is not None), None)

    def owns(self, url: str) -> bool:
        """Whether ``url`` is one of the simulator's Jira-shaped URLs: the key service or a site."""
        return self.site_for_url(url) is not None or urls.remainder(url, self.urls.keys_url) is not None

    def describe_urls(self) -> str:
        """Where the simulator answers, for messages about a URL it does not."""
        sites = ", ".join(site.base_url for site in self.sites) or "none yet"
        return f"install keys at {self.keys_url}; sites: {sites}"

    def connect_app(
        self,
        transport: AppTransport,
        descriptor_path: str = "/atlassian-connect.json",
        *,
        reach: Callable[[str], AppTransport] | None = None,
    ) -> ConnectApp:
        """Fetch the app's descriptor through ``transport`` and check it as an install would.

        ``reach`` gives the transport to the descriptor's baseUrl, where Jira sends everything afterwards
        (over HTTP); without it the app is reached through ``transport`` (in process, where no host matters).
        Raises DescriptorUnavailable when there is no descriptor to read, DescriptorError, with one sentence
        per problem, when Jira would refuse it.
        """
        response = transport.send("GET", descriptor_path, headers={"Accept": "application/json"})
        self.record(Event(Direction.TO_APP, None, "descriptor", request_line("GET", descriptor_path), response.status))
        if response.status != 200:
            raise DescriptorUnavailable(
                descriptor_path, [f"GET {descriptor_path} answered HTTP {response.status}, not 200"]
            )
        try:
            descriptor = response.json()
        except ValueError:
            raise DescriptorUnavailable(descriptor_path, ["the descriptor is not JSON"]) from None
        problems = check_descriptor(descriptor)
        if problems:
            raise DescriptorError(descriptor_path, problems)
        return ConnectApp(descriptor, transport if reach is None else reach(str(descriptor["baseUrl"])))

    def handle(self, request: Request) -> Response:
        """Answer a request to one of the simulator's Jira-shaped URLs; 404 in Jira's error shape for any other."""
        rest = urls.remainder(request.url, self.keys_url)
        if rest is not None:
            return self._key_service(request, rest)
        site = self.site_for_url(request.url)
        if site is not None:
            return self._site_call(site, request)
        return handlers.error_response(NotFound(f"{request.url} is not a fake_jira URL ({self.describe_urls()})"))

    def _key_service(self, request: Request, rest: str) -> Response:
        kid = unquote(rest.split("?", 1)[0].split("#", 1)[0].removeprefix("/"))
        try:
            if request.method != "GET":
                raise MethodNotAllowed("the install-key service only answers GET")
            response = handlers.install_key(self.keys, kid)
        except JiraApiError as error:
            response = handlers.error_response(error)
        self.record(Event(Direction.FROM_APP, None, "install key", request.summary(), response.status))
        return response

    def _site_call(self, site: JiraSite, request: Request) -> Response:
        path = request.path.removeprefix(site.state.base_path) or "/"
        detail = ""
        try:
            installation = handlers.authenticate(site.state, request)
            response = call_rest(site.state, installation, request, path)
        except JiraApiError as error:
            response, detail = handlers.error_response(error), str(error)
        self.record(Event(Direction.FROM_APP, site.name, "REST", request.summary(), response.status, detail))
        return response

    def record(self, event: Event) -> None:
        self.events.append(event)

    def reset(self) -> None:
        """Forget every site, key and event, as a fresh simulator at the same URLs."""
        with self._lock:
            self._sites.clear()
            self.events.clear()
            self.keys = InstallKeyService()


def call_rest(site: Site, installation: Installation, request: Request, path: str) -> Response:
    """Jira's REST API for an authenticated caller: the route for ``path``, refused beyond the app's scopes.

    Every way into the REST API (the app's own JWT, ``AP.request`` from its page, Forge's API gateway) runs
    through here, so scopes hold on all of them. Raises JiraApiError for the caller to turn into a response.
    """
    route, params = urls.resolve(REST_ROUTES, request.method, path)
    scopes.require(route.scope, installation.scopes, installation.app_key)
    return route.handler(handlers.AppCall(site, installation, request, params))
