"""Where the simulator lives (``UrlScheme``), how a route table is matched, and Jira's REST routes.

Three prefixes never overlap: the install-key service, each site's baseUrl (Jira's REST API), and, on a
server, the simulator's own control plane under ``/_fake/`` (control.py), kept apart from Jira-shaped routes
as moto keeps ``/moto-api/``. This module knows nothing of the simulator itself: simulator.py answers the
Jira-shaped URLs, control.py the control plane.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from fake_jira import handlers
from fake_jira.exceptions import MethodNotAllowed, NotFound
from fake_jira.messages import Response

H = TypeVar("H")


@dataclass(frozen=True)
class UrlScheme:
    """The simulator's URLs: ``{name}`` in ``site_url_template`` is replaced by the site's name.

    ``control_url`` is where a server answers its control plane; in process there is none (the test holds the
    FakeJira itself).
    """

    keys_url: str
    site_url_template: str
    control_url: str | None = None

    @classmethod
    def in_process(cls) -> UrlScheme:
        """Real-looking hosts, reachable only through the ``responses`` router (nothing resolves them)."""
        return cls(
            keys_url="https://connect-install-keys.fake-jira.test",
            site_url_template="https://{name}.atlassian.net",
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
    """``method`` on paths matching ``pattern``; ``scope`` is the Connect scope a REST call needs (None: none)."""

    method: str
    pattern: str
    handler: H
    scope: str | None = None

    def match(self, path: str) -> dict[str, str] | None:
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None


RestHandler = Callable[[handlers.AppCall], Response]

_PROPERTIES = r"/rest/atlassian-connect/1/addons/(?P<app_key>[^/]+)/properties"

# Paths relative to the site's baseUrl, each with the scope Jira requires of a Connect app for it.
REST_ROUTES: tuple[Route[RestHandler], ...] = (
    Route("GET", r"/rest/api/3/myself", handlers.myself, "READ"),
    Route("GET", r"/rest/api/3/user", handlers.get_user, "READ"),
    Route("GET", r"/rest/api/3/users/search", handlers.search_users, "READ"),
    Route("GET", r"/rest/api/3/project/search", handlers.search_projects, "READ"),
    Route("GET", r"/rest/api/3/project/(?P<id_or_key>[^/]+)", handlers.get_project, "READ"),
    Route("POST", r"/rest/api/3/issue", handlers.create_issue, "WRITE"),
    Route("GET", r"/rest/api/3/issue/(?P<id_or_key>[^/]+)", handlers.get_issue, "READ"),
    Route("PUT", r"/rest/api/3/issue/(?P<id_or_key>[^/]+)", handlers.edit_issue, "WRITE"),
    Route("GET", r"/rest/api/3/search/jql", handlers.search_issues, "READ"),
    Route("POST", r"/rest/api/3/search/jql", handlers.search_issues, "READ"),
    # An app's own properties need no scope.
    Route("GET", _PROPERTIES, handlers.list_properties),
    Route("GET", _PROPERTIES + r"/(?P<property_key>[^/]+)", handlers.get_property),
    Route("PUT", _PROPERTIES + r"/(?P<property_key>[^/]+)", handlers.put_property),
    Route("DELETE", _PROPERTIES + r"/(?P<property_key>[^/]+)", handlers.delete_property),
)


def resolve(routes: Sequence[Route[H]], method: str, path: str) -> tuple[Route[H], dict[str, str]]:
    """The route for ``method`` on ``path`` and its path parameters; NotFound or MethodNotAllowed else."""
    allowed = []
    for route in routes:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method:
            return route, {name: unquote(value) for name, value in params.items()}
        allowed.append(route.method)
    if allowed:
        raise MethodNotAllowed(f"{method} is not allowed on {path}: use {' or '.join(allowed)}")
    raise NotFound(f"no such resource: {path}")
