"""The host page (a Jira general page around the app's iframe) and the endpoints its bridge modules call.

Jira builds the iframe URL on its server: the module URL from the descriptor, the context parameters, and a
fresh page JWT bound to all of them. The browser only ever sees tokens, never a sharedSecret: the context
module asks ``context-token`` here, which signs with the installation's current secret.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fake_jira import handlers, tokens
from fake_jira.browser.assets import Assets
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import BadRequest, FakeJiraError, JiraApiError, MethodNotAllowed, NotFound
from fake_jira.messages import Request, Response
from fake_jira.models import Direction, Event, User
from fake_jira.simulator import FakeJira, call_rest
from fake_jira.sites import CONNECT_VERSION, JiraSite
from fake_jira.tokens import QshTarget, TokenSpec

_HERE = Path(__file__).resolve().parent
STATIC_FILES = {"host.js": "text/javascript", "jira-globals.js": "text/javascript", "host.css": "text/css"}
# Jira's URL for an app's general page, under the site's baseUrl.
_PAGE_PATH = re.compile(r"/plugins/servlet/ac/(?P<app>[^/]+)/(?P<module>[^/]+)")
_CONTEXT_VARIABLE = re.compile(r"\{[^{}]+\}")
BROWSER_PREFIX = "/browser"
# Where Jira serves iframe.js to apps; all.js reads its data-options only from a script at such a URL.
ALL_JS_PATH = "/atlassian-connect/all.js"
# How long the host page waits for the app's all.js to answer connect-js before it says why it did not.
HANDSHAKE_SECONDS = 8


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _script_json(data: object) -> str:
    """JSON safe inside a <script> element: no '<' can close it."""
    return json.dumps(data).replace("<", "\\u003c")


class BrowserHost:
    """Host pages for the apps registered here, on every site of ``fake`` they are installed on."""

    def __init__(self, fake: FakeJira, assets: Assets) -> None:
        self.fake = fake
        self.assets = assets
        self.apps: dict[str, ConnectApp] = {}
        self._template = Template((_HERE / "templates" / "host.html").read_text())

    def register(self, app: ConnectApp) -> None:
        """Show ``app``'s pages: a site lists it once it is installed there."""
        self.apps[app.key] = app

    # --- URLs ------------------------------------------------------------------------------------------------

    @staticmethod
    def page_modules(app: ConnectApp) -> list[dict[str, Any]]:
        pages = app.descriptor.get("modules", {}).get("generalPages", [])
        return [page for page in pages if isinstance(page, dict) and "key" in page and "url" in page]

    def page_url(
        self, site: JiraSite, app: ConnectApp, module_key: str | None = None, *, user: User | None = None
    ) -> str:
        """The host page of the app's general page on ``site``, as ``user`` (the site's admin by default)."""
        if module_key is None:
            module_key = str(self.page_modules(app)[0]["key"])
        url = f"{site.base_url}/plugins/servlet/ac/{quote(app.key)}/{quote(module_key)}"
        return f"{url}?user={quote(user.account_id)}" if user else url

    def iframe_url(self, site: JiraSite, app: ConnectApp, module_key: str, user: User) -> str:
        """The iframe's src as Jira builds it: module URL, context parameters, then a page JWT bound to them."""
        path = _CONTEXT_VARIABLE.sub("", app.module_url(module_key))
        params = {
            "xdm_e": site.base_url,
            "xdm_c": f"channel-{app.key}__{module_key}",
            "cp": site.state.base_path,
            "xdm_deprecated_addon_key_do_not_use": app.key,
            "lic": "active" if site.state.entitlement_number else "none",
            "cv": CONNECT_VERSION,
            "tz": "Etc/UTC",
            "loc": "en-US",
        }
        target = app.target(path) + ("&" if "?" in path else "?") + urlencode(params)
        target_path, _, query = target.partition("?")
        spec = TokenSpec(
            "HS256",
            site.installation(app).shared_secret,
            site.client_key,
            user.account_id,
            QshTarget("GET", target_path, query, app.base_path),
        )
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(app.base_url))
        return f"{origin}{target}&jwt={quote(tokens.mint(spec), safe='')}"

    # --- Dispatch --------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """The answer when ``request`` is the browser's, else None (the simulator answers it)."""
        path = request.path
        try:
            if path == ALL_JS_PATH and request.method in ("GET", "HEAD"):
                return self.assets.response("all.js")
            if path.startswith(BROWSER_PREFIX + "/"):
                return self._browser_route(request, path.removeprefix(BROWSER_PREFIX))
            site = self.fake.site_for_url(request.url)
            if site is not None:
                found = _PAGE_PATH.fullmatch(path.removeprefix(site.state.base_path))
                if found:
                    if request.method not in ("GET", "HEAD"):
                        raise MethodNotAllowed("a page only answers GET")
                    return self._host_page(site, found["app"], found["module"], request)
        except JiraApiError as error:
            return handlers.error_response(error)
        return None

    def _browser_route(self, request: Request, path: str) -> Response:
        parts = path.strip("/").split("/")
        if request.method == "GET" and len(parts) == 2 and parts[0] == "npm":
            return self.assets.response(parts[1])
        if request.method == "GET" and len(parts) == 2 and parts[0] == "static" and parts[1] in STATIC_FILES:
            body = (_HERE / "static" / parts[1]).read_bytes()
            return Response(200, {"Content-Type": f"{STATIC_FILES[parts[1]]}; charset=utf-8"}, body)
        if len(parts) == 3 and parts[0] == "sites":
            if request.method != "POST":
                raise MethodNotAllowed(f"{path} only answers POST")
            site = self._site(parts[1])
            fields = _json_body(request)
            app = self._installed_app(site, fields.get("app"))
            actions = {"context-token": self._context_token, "request": self._rest_call, "rotate": self._rotate}
            if parts[2] in actions:
                return actions[parts[2]](site, app, fields)
        raise NotFound(f"no such browser resource: {path}")

    def _site(self, name: str) -> JiraSite:
        try:
            return self.fake.site(name)
        except FakeJiraError as error:
            raise NotFound(str(error)) from None

    def _installed_app(self, site: JiraSite, key: object) -> ConnectApp:
        app = self.apps.get(key) if isinstance(key, str) else None
        installation = site.state.installation(app.key) if app else None
        if app is None or installation is None or not installation.active:
            raise NotFound(f"no app {key!r} is installed and enabled on site {site.name!r}")
        return app

    @staticmethod
    def _user(site: JiraSite, account_id: object) -> User:
        if account_id in (None, ""):
            return site.admin
        found = next((user for user in site.state.users if user.account_id == account_id), None)
        if found is None:
            raise NotFound(f"site {site.name!r} has no user with accountId {account_id!r}")
        return found

    # --- The host page ---------------------------------------------------------------------------------------

    def _host_page(self, site: JiraSite, app_key: str, module_key: str, request: Request) -> Response:
        app = self._installed_app(site, app_key)
        pages = {str(page["key"]): page for page in self.page_modules(app)}
        if module_key not in pages:
            raise NotFound(f"app {app.key!r} has no general page {module_key!r}; it has {sorted(pages)}")
        user = self._user(site, parse_qs(request.query).get("user", [""])[-1])
        page_name = str(pages[module_key].get("name", {}).get("value") or module_key)
        missing = self.assets.missing
        config = {
            "site": {"name": site.name, "baseUrl": site.base_url},
            "user": {"accountId": user.account_id, "displayName": user.display_name},
            "app": {"key": app.key, "name": app.name, "module": module_key, "pageName": page_name},
            "iframeUrl": None if missing else self.iframe_url(site, app, module_key, user),
            "handshakeSeconds": HANDSHAKE_SECONDS,
            "endpoints": {
                action: f"{BROWSER_PREFIX}/sites/{site.name}/{action}"
                for action in ("context-token", "request", "rotate")
            },
        }
        installed = [s for s in self.fake.sites if (i := s.state.installation(app.key)) is not None and i.active]
        site_options = "".join(
            f'<option value="{html.escape(self.page_url(s, app, module_key))}"{" selected" if s is site else ""}>'
            f"{html.escape(s.name)}</option>"
            for s in installed
        )
        user_options = "".join(
            f'<option value="{html.escape(self.page_url(site, app, module_key, user=u))}"'
            f"{' selected' if u == user else ''}>{html.escape(u.display_name)}</option>"
            for u in site.state.users
        )
        scripts = (
            ""
            if missing
            else "\n".join(
                f'<script src="{BROWSER_PREFIX}/{path}"></script>'
                for path in ("npm/jquery.js", "static/jira-globals.js", "npm/connect-host.js", "static/host.js")
            )
        )
        page = self._template.substitute(
            title=html.escape(f"{page_name} - {app.name} - {site.name}"),
            site_name=html.escape(site.name),
            site_url=html.escape(site.base_url),
            page_name=html.escape(page_name),
            page_url=html.escape(self.page_url(site, app, module_key, user=user)),
            app_name=html.escape(app.name),
            user_name=html.escape(user.display_name),
            site_options=site_options,
            user_options=user_options,
            notice=html.escape(missing or ""),
            notice_hidden="" if missing else " hidden",
            config=_script_json(config),
            scripts=scripts,
        )
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        return Response(200, headers, page.encode())

    # --- What the bridge modules call ------------------------------------------------------------------------

    def _context_token(self, site: JiraSite, app: ConnectApp, body: dict[str, Any]) -> Response:
        """``AP.context.getToken()``: a context JWT for the user, signed with the current secret."""
        token = site.context_token(app, user=self._user(site, body.get("user")))
        return Response.from_json(200, {"token": token}, {"Cache-Control": "no-store"})

    def _rest_call(self, site: JiraSite, app: ConnectApp, body: dict[str, Any]) -> Response:
        """``AP.request``: Jira's REST API as the signed-in user, as Jira runs it for the app's page."""
        user = self._user(site, body.get("user"))
        url, method = body.get("url"), str(body.get("type") or "GET").upper()
        if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
            raise BadRequest("'url' must be a path relative to the site, like /rest/api/3/myself")
        request = Request(method, site.base_url + url, {"Accept": "application/json"})
        path = request.path.removeprefix(site.state.base_path)
        # The REST handlers answer for the caller in installation.app_user; here the caller is the user.
        acting = replace(site.installation(app), app_user=user)
        response = call_rest(site.state, acting, request, path)
        self.fake.record(
            Event(
                Direction.FROM_APP, site.name, f"AP.request as {user.display_name}", request.summary(), response.status
            )
        )
        return response

    def _rotate(self, site: JiraSite, app: ConnectApp, body: dict[str, Any]) -> Response:
        """Reinstall: Jira sends a new sharedSecret; the page's next JWT and context token use it."""
        answer = site.reinstall(app)
        return Response.from_json(
            200 if answer.ok else 502,
            {"appStatus": answer.status, "rotatedSecrets": len(site.installation(app).previous_secrets)},
        )
