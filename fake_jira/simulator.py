"""FakeJira: any number of simulated Jira Cloud sites, Atlassian's install-key service, and the event log."""

from __future__ import annotations

import re
import threading

from fake_jira import urls
from fake_jira.descriptor import ConnectApp, check_descriptor
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.keys import InstallKeyService
from fake_jira.messages import Request, Response, request_line
from fake_jira.models import Direction, Event, Site
from fake_jira.sites import JiraSite
from fake_jira.transports import AppTransport
from fake_jira.urls import UrlScheme

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
        """Whether ``url`` is one of the simulator's: the key service, a site, or the control plane."""
        prefixes = (self.urls.keys_url, self.urls.control_url)
        return self.site_for_url(url) is not None or any(urls.remainder(url, p) is not None for p in prefixes)

    def connect_app(self, transport: AppTransport, descriptor_path: str = "/atlassian-connect.json") -> ConnectApp:
        """Fetch the app's descriptor through ``transport`` and check it as an install would.

        Raises DescriptorError, with one sentence per problem, when Jira would refuse it.
        """
        response = transport.send("GET", descriptor_path, headers={"Accept": "application/json"})
        self.record(Event(Direction.TO_APP, None, "descriptor", request_line("GET", descriptor_path), response.status))
        if response.status != 200:
            raise DescriptorError(descriptor_path, [f"GET {descriptor_path} answered HTTP {response.status}, not 200"])
        try:
            descriptor = response.json()
        except ValueError:
            raise DescriptorError(descriptor_path, ["the descriptor is not JSON"]) from None
        problems = check_descriptor(descriptor)
        if problems:
            raise DescriptorError(descriptor_path, problems)
        return ConnectApp(descriptor, transport)

    def handle(self, request: Request) -> Response:
        """Answer a request to one of the simulator's URLs (what the router and the server call)."""
        return urls.dispatch(self, request)

    def record(self, event: Event) -> None:
        self.events.append(event)

    def reset(self) -> None:
        """Forget every site, key and event, as a fresh simulator at the same URLs."""
        with self._lock:
            self._sites.clear()
            self.events.clear()
            self.keys = InstallKeyService()
