"""The simulator's own control plane under ``/_fake/``: reset, add and inspect sites, drive an app's
lifecycle, read the event log.

Used when the simulator runs as a separate process (``python -m fake_jira serve``) and a test or tool drives
it over HTTP. Never Jira-shaped, and never shows a secret. ``handle`` is what the server answers with: the
control plane under the control URL, ``FakeJira.handle`` everywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import requests

from fake_jira import handlers, urls
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import BadRequest, FakeJiraError, JiraApiError, NotFound
from fake_jira.messages import Request, Response
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.transports import AppTransport, ConnectTo, RequestsTransport, origin
from fake_jira.urls import Route


def site_json(site: JiraSite) -> dict[str, Any]:
    state = site.state
    return {
        "name": state.name,
        "baseUrl": state.base_url,
        "clientKey": state.client_key,
        "displayUrl": state.display_url,
        "installations": [
            {
                "appKey": installation.app_key,
                "installed": installation.installed,
                "enabled": installation.enabled,
                "appAccountId": installation.app_user.account_id,
                "rotatedSecrets": len(installation.previous_secrets),
            }
            for installation in state.installations.values()
        ],
    }


def reset(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    fake.reset()
    return Response(204)


def list_sites(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    return Response.from_json(200, [site_json(site) for site in fake.sites])


def _json_object(request: Request, field: str, example: str) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get(field), str):
        raise BadRequest(f"the body must be a JSON object with a {field!r} string, like {example}")
    return body


def _site(fake: FakeJira, name: str) -> JiraSite:
    try:
        return fake.site(name)
    except FakeJiraError as error:
        raise NotFound(str(error)) from None


def add_site(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    """``POST /_fake/sites`` with ``{"name": "acme", "licensed": false, "displayUrl": null}``."""
    body = _json_object(request, "name", '{"name": "acme"}')
    try:
        site = fake.add_site(body["name"], licensed=bool(body.get("licensed")), display_url=body.get("displayUrl"))
    except FakeJiraError as error:
        raise BadRequest(str(error)) from None
    return Response.from_json(201, site_json(site))


def get_site(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    return Response.from_json(200, site_json(_site(fake, params["name"])))


def _connect(fake: FakeJira, descriptor_url: str, connect_to: Sequence[ConnectTo]) -> ConnectApp:
    """The app, its descriptor fetched from ``descriptor_url``, reached at its baseUrl as Jira reaches it."""
    parts = urlsplit(descriptor_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"descriptorUrl {descriptor_url!r} is not an absolute http(s) URL")

    def reach(url: str) -> RequestsTransport:
        return RequestsTransport(origin(url), connect_to=connect_to)

    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return fake.connect_app(reach(descriptor_url), target, reach=reach)
    except requests.RequestException as error:
        raise BadRequest(f"the descriptor at {descriptor_url} could not be fetched ({type(error).__name__})") from None
    except FakeJiraError as error:
        raise BadRequest(str(error)) from None


def _connect_to(body: Mapping[str, Any]) -> list[ConnectTo]:
    rules = body.get("connectTo", [])
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise BadRequest('"connectTo" must be a list of HOST1:PORT1:HOST2:PORT2 strings')
    try:
        return [ConnectTo.parse(rule) for rule in rules]
    except FakeJiraError as error:
        raise BadRequest(str(error)) from None


def lifecycle(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    """``POST /_fake/sites/<name>/<install|reinstall|uninstall>`` with ``{"descriptorUrl": "..."}``, and
    ``"connectTo": ["HOST1:PORT1:HOST2:PORT2"]`` for an app that listens elsewhere than its baseUrl.

    Answers 200 with the app's status, whatever it is: the simulator did its part.
    """
    site = _site(fake, params["name"])
    body = _json_object(request, "descriptorUrl", '{"descriptorUrl": "http://127.0.0.1:8000/atlassian-connect.json"}')
    app = _connect(fake, body["descriptorUrl"], _connect_to(body))
    try:
        actions = {"install": site.install, "reinstall": site.reinstall, "uninstall": site.uninstall}
        response = actions[params["action"]](app)
    except requests.RequestException as error:
        raise BadRequest(f"the app at its baseUrl {app.base_url} did not answer ({type(error).__name__})") from None
    except FakeJiraError as error:
        raise BadRequest(str(error)) from None
    return Response.from_json(
        200, {"appStatus": response.status, "appResponse": response.text, "site": site_json(site)}
    )


class _RecordingTransport:
    """Passes requests on and keeps each target, so the control plane can say which URL it loaded."""

    def __init__(self, transport: AppTransport) -> None:
        self.transport = transport
        self.targets: list[str] = []

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        self.targets.append(target)
        return self.transport.send(method, target, headers=headers, body=body)


def page(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    """``POST /_fake/sites/<name>/page`` with ``{"descriptorUrl": "...", "module": "hello"}``.

    Loads the page module (``module``, else the descriptor's first page) as Jira's iframe does, and answers the
    app's status and the signed URL it loaded, which a browser may open while its token lives (180 s).
    """
    site = _site(fake, params["name"])
    body = _json_object(request, "descriptorUrl", '{"descriptorUrl": "http://127.0.0.1:8000/atlassian-connect.json"}')
    connected = _connect(fake, body["descriptorUrl"], _connect_to(body))
    recording = _RecordingTransport(connected.transport)
    app = replace(connected, transport=recording)
    module = body.get("module") or _first_page(app)
    if not isinstance(module, str):
        raise BadRequest("the descriptor declares no generalPages or adminPages module to load")
    try:
        response = site.load_page(app, module)
    except requests.RequestException as error:
        raise BadRequest(f"the app at its baseUrl {app.base_url} did not answer ({type(error).__name__})") from None
    except FakeJiraError as error:
        raise BadRequest(str(error)) from None
    url = origin(app.base_url) + recording.targets[-1]
    return Response.from_json(200, {"appStatus": response.status, "module": module, "url": url})


def _first_page(app: ConnectApp) -> str | None:
    modules = app.descriptor.get("modules") or {}
    for module_type in ("generalPages", "adminPages"):
        for module in modules.get(module_type) or []:
            if isinstance(module, Mapping) and isinstance(module.get("key"), str):
                return str(module["key"])
    return None


def list_events(fake: FakeJira, request: Request, params: Mapping[str, str]) -> Response:
    return Response.from_json(
        200,
        [
            {
                "direction": event.direction.value,
                "site": event.site,
                "action": event.action,
                "request": event.request,
                "status": event.status,
                "detail": event.detail,
                "line": str(event),
            }
            for event in fake.events
        ],
    )


ControlHandler = Callable[[FakeJira, Request, Mapping[str, str]], Response]

# Paths relative to the control URL.
CONTROL_ROUTES: tuple[Route[ControlHandler], ...] = (
    Route("POST", r"/reset", reset),
    Route("GET", r"/sites", list_sites),
    Route("POST", r"/sites", add_site),
    Route("GET", r"/sites/(?P<name>[^/]+)", get_site),
    Route("POST", r"/sites/(?P<name>[^/]+)/(?P<action>install|reinstall|uninstall)", lifecycle),
    Route("GET", r"/events", list_events),
    Route("POST", r"/sites/(?P<name>[^/]+)/page", page),
)


def handle(fake: FakeJira, request: Request) -> Response:
    """Answer any request to a served simulator: its control plane, or else one of its Jira-shaped URLs."""
    control_url = fake.urls.control_url
    if control_url is None or urls.remainder(request.url, control_url) is None:
        return fake.handle(request)
    try:
        control_path = request.path.removeprefix(urlsplit(control_url).path)
        route, params = urls.resolve(CONTROL_ROUTES, request.method, control_path)
        return route.handler(fake, request, params)
    except JiraApiError as error:
        return handlers.error_response(error)
