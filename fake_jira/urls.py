"""Where the simulator lives (``UrlScheme``) and which handler answers which request (the route tables).

One ``dispatch`` serves every way in: the ``responses`` router (in-process) and the HTTP server (loopback).
Three prefixes never overlap: the install-key service, each site's baseUrl (Jira's REST API), and the
simulator's own control plane under ``/_fake/``, kept apart from Jira-shaped routes as moto keeps
``/moto-api/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from fake_jira import control, handlers
from fake_jira.exceptions import JiraApiError, MethodNotAllowed, NotFound
from fake_jira.messages import Request, Response
from fake_jira.models import Direction, Event

if TYPE_CHECKING:
    from fake_jira.simulator import FakeJira
    from fake_jira.sites import JiraSite

H = TypeVar("H")


@dataclass(frozen=True)
class UrlScheme:
    """The simulator's URLs: ``{name}`` in ``site_url_template`` is replaced by the site's name."""

    keys_url: str
    site_url_template: str
    control_url: str

    @classmethod
    def in_process(cls) -> UrlScheme:
        """Real-looking hosts, reachable only through the ``responses`` router (nothing resolves them)."""
        return cls(
            keys_url="https://connect-install-keys.fake-jira.test",
            site_url_template="https://{name}.atlassian.net",
            control_url="https://control.fake-jira.test/_fake",
        )

    @classmethod
    def served_at(cls, root_url: str) -> UrlScheme:
        """Everything on one server: sites get a path-prefixed baseUrl, like Confluence's ``/wiki``."""
        root_url = root_url.rstrip("/")
        return cls(
            keys_url=f"{root_url}/install-keys",
            site_url_template=f"{root_url}/sites/{{name}}",
            control_url=f"{root_url}/_fake",
        )

    def site_base_url(self, name: str) -> str:
        return self.site_url_template.format(name=name)


def remainder(url: str, prefix: str) -> str | None:
    """What follows ``prefix`` in ``url`` when ``url`` is under it ("" for the prefix itself), else None."""
    if url == prefix:
        return ""
    if url.startswith(prefix) and url[len(prefix)] in "/?#":
        return url[len(prefix) :]
    return None


@dataclass(frozen=True)
class Route(Generic[H]):
    method: str
    pattern: str
    handler: H

    def match(self, path: str) -> dict[str, str] | None:
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None


RestHandler = Callable[[handlers.AppCall], Response]
ControlHandler = Callable[["FakeJira", Request, Mapping[str, str]], Response]

# Paths relative to the site's baseUrl.
REST_ROUTES: tuple[Route[RestHandler], ...] = (
    Route("GET", r"/rest/api/3/myself", handlers.myself),
    Route("GET", r"/rest/api/3/project/search", handlers.search_projects),
    Route("GET", r"/rest/api/3/issue/(?P<id_or_key>[^/]+)", handlers.get_issue),
)

# Paths relative to the control URL.
CONTROL_ROUTES: tuple[Route[ControlHandler], ...] = (
    Route("POST", r"/reset", control.reset),
    Route("GET", r"/sites", control.list_sites),
    Route("POST", r"/sites", control.add_site),
    Route("GET", r"/sites/(?P<name>[^/]+)", control.get_site),
    Route("POST", r"/sites/(?P<name>[^/]+)/(?P<action>install|reinstall|uninstall)", control.lifecycle),
    Route("GET", r"/events", control.list_events),
    Route("POST", r"/sites/(?P<name>[^/]+)/page", control.page),
)


def resolve(routes: Sequence[Route[H]], method: str, path: str) -> tuple[H, dict[str, str]]:
    """The handler for ``method`` on ``path`` and its path parameters; NotFound or MethodNotAllowed else."""
    allowed = []
    for route in routes:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method:
            return route.handler, params
        allowed.append(route.method)
    if allowed:
        raise MethodNotAllowed(f"{method} is not allowed on {path}: use {' or '.join(allowed)}")
    raise NotFound(f"no such resource: {path}")


def _key_service(fake: FakeJira, request: Request, rest: str) -> Response:
    kid = unquote(rest.split("?", 1)[0].split("#", 1)[0].removeprefix("/"))
    try:
        if request.method != "GET":
            raise MethodNotAllowed("the install-key service only answers GET")
        response = handlers.install_key(fake.keys, kid)
    except JiraApiError as error:
        response = handlers.error_response(error)
    fake.record(Event(Direction.FROM_APP, None, "install key", request.summary(), response.status))
    return response


def _site_call(fake: FakeJira, site: JiraSite, request: Request) -> Response:
    path = request.path.removeprefix(site.state.base_path) or "/"
    detail = ""
    try:
        installation = handlers.authenticate(site.state, request)
        handler, params = resolve(REST_ROUTES, request.method, path)
        response = handler(handlers.AppCall(site.state, installation, request, params))
    except JiraApiError as error:
        response, detail = handlers.error_response(error), str(error)
    fake.record(Event(Direction.FROM_APP, site.name, "REST", request.summary(), response.status, detail))
    return response


def dispatch(fake: FakeJira, request: Request) -> Response:
    """Answer any request to one of the simulator's URLs."""
    rest = remainder(request.url, fake.urls.keys_url)
    if rest is not None:
        return _key_service(fake, request, rest)
    site = fake.site_for_url(request.url)
    if site is not None:
        return _site_call(fake, site, request)
    try:
        if remainder(request.url, fake.urls.control_url) is None:
            raise NotFound(f"{request.url} is not a fake_jira URL; its sites are {[s.base_url for s in fake.sites]}")
        control_path = request.path.removeprefix(urlsplit(fake.urls.control_url).path)
        handler, params = resolve(CONTROL_ROUTES, request.method, control_path)
        return handler(fake, request, params)
    except JiraApiError as error:
        return handlers.error_response(error)
