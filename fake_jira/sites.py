"""A Jira site as a test drives it: what it sends a Connect app, signed exactly as Jira signs it.

Lifecycle callbacks, page loads, context-token calls and webhooks (docs/protocol.md §2, §3, §5, §6),
each addressed by the app's descriptor and sent through the app's transport. Every method takes an optional
``forgery`` (tokens.Forgery) to send a named hostile variant instead; a forged callback never changes what
the site remembers.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from fake_jira import representations, scopes, tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import FakeJiraError
from fake_jira.keys import InstallKeyService
from fake_jira.messages import Response, request_line
from fake_jira.models import Direction, Event, Installation, Issue, Project, Site, User
from fake_jira.tokens import CONTEXT_QSH, Forgery, QshTarget, TokenSpec

# The Connect version Jira reports in the cv page parameter.
CONNECT_VERSION = "1001.0.0-SNAPSHOT"
_CONTEXT_VARIABLE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook as Jira queued it: retries send the same identifier and body again (docs/protocol.md §6)."""

    identifier: str
    url: str
    body: Mapping[str, Any]


class SiteHost(Protocol):
    """What a site needs of the simulator around it (FakeJira): the key service, its neighbours, the event log."""

    @property
    def keys(self) -> InstallKeyService: ...

    @property
    def events(self) -> list[Event]: ...

    @property
    def sites(self) -> list[JiraSite]: ...

    def record(self, event: Event) -> None: ...


class JiraSite:
    """One simulated Jira Cloud site, driving Connect apps; its state is ``state`` (models.Site)."""

    def __init__(self, fake: SiteHost, state: Site) -> None:
        self._fake = fake
        self.state = state
        self._last_webhook: dict[str, tuple[WebhookDelivery, int]] = {}
        # App key -> Forge installationId, for apps that are Connect on Forge: their lifecycle bodies name it.
        self.forge_installation_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<JiraSite {self.name} {self.base_url}>"

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def client_key(self) -> str:
        return self.state.client_key

    @property
    def admin(self) -> User:
        return self.state.admin

    def add_user(self, display_name: str) -> User:
        return self.state.add_user(display_name)

    def add_project(self, key: str, name: str) -> Project:
        return self.state.add_project(key, name)

    def add_issue(self, project_key: str, summary: str, *, reporter: User | None = None) -> Issue:
        return self.state.add_issue(project_key, summary, reporter=reporter)

    def installation(self, app: ConnectApp) -> Installation:
        """The app's installation here (current secret, rotated secrets, app user, state)."""
        found = self.state.installation(app.key)
        if found is None:
            raise FakeJiraError(f"app {app.key!r} was never installed on site {self.name!r}: install() it first")
        return found

    @property
    def api_calls(self) -> list[Event]:
        """The REST calls apps made to this site, in order, with the status each got."""
        return [e for e in self._fake.events if e.direction is Direction.FROM_APP and e.site == self.name]

    # --- Lifecycle (docs/protocol.md §2) -----------------------------------------------------------------------

    def _lifecycle_body(self, app: ConnectApp, event: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": app.key,
            "clientKey": self.client_key,
            "baseUrl": self.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {self.base_url}",
            "eventType": event,
            "oauthClientId": self.state.oauth_client_id(app.key),
        }
        if self.state.display_url:
            body["displayUrl"] = self.state.display_url
        if self.state.entitlement_number:
            body["serviceEntitlementNumber"] = self.state.entitlement_number
        if app.key in self.forge_installation_ids:
            body["installationId"] = self.forge_installation_ids[app.key]
        return body

    def install(self, app: ConnectApp, *, user: User | None = None, forgery: Forgery | None = None) -> Response:
        """Send ``installed`` (RS256, signed install) with a new sharedSecret; remembered only if the app says 2xx.

        Jira marks an install incomplete unless the app answers 200 or 204 (docs/protocol.md §2), so a refused install
        leaves the site as it was.
        """
        body = self._lifecycle_body(app, "installed")
        body["sharedSecret"] = tokens.new_shared_secret()
        url = self._lifecycle_url(app, "installed")
        response = self._send(app, "installed", "POST", url, user=user, forgery=forgery, body=body, signed_install=True)
        if response.ok and forgery is None:
            self.state.record_installed(
                app.key, app.name, body["sharedSecret"], body["oauthClientId"], scopes=scopes.granted(app.scopes)
            )
        return response

    def reinstall(self, app: ConnectApp, *, user: User | None = None, forgery: Forgery | None = None) -> Response:
        """Install again over an installation: a new sharedSecret, the old one rotated away (docs/protocol.md §8)."""
        self.installation(app)
        return self.install(app, user=user, forgery=forgery)

    def uninstall(self, app: ConnectApp, *, user: User | None = None, forgery: Forgery | None = None) -> Response:
        """Send ``uninstalled`` (RS256). Jira does not retry it and uninstalls whatever the app answers."""
        self.installation(app)
        body = self._lifecycle_body(app, "uninstalled")
        url = self._lifecycle_url(app, "uninstalled")
        response = self._send(
            app, "uninstalled", "POST", url, user=user, forgery=forgery, body=body, signed_install=True
        )
        if forgery is None:
            self.state.record_uninstalled(app.key)
        return response

    def enable(self, app: ConnectApp, *, user: User | None = None, forgery: Forgery | None = None) -> Response | None:
        """Enable the app and send ``enabled`` (HS256); None when the descriptor declares no such callback."""
        return self._set_enabled(app, True, user=user, forgery=forgery)

    def disable(self, app: ConnectApp, *, user: User | None = None, forgery: Forgery | None = None) -> Response | None:
        """Disable the app and send ``disabled`` (HS256); None when the descriptor declares no such callback."""
        return self._set_enabled(app, False, user=user, forgery=forgery)

    def _set_enabled(
        self, app: ConnectApp, enabled: bool, *, user: User | None, forgery: Forgery | None
    ) -> Response | None:
        event = "enabled" if enabled else "disabled"
        if not self.installation(app).installed:
            raise FakeJiraError(f"app {app.key!r} is uninstalled from site {self.name!r}: install() it first")
        url = app.lifecycle_url(event)
        # Jira changes the state whatever the app answers; the callback only informs it.
        response = (
            None
            if url is None
            else self._send(app, event, "POST", url, user=user, forgery=forgery, body=self._lifecycle_body(app, event))
        )
        if forgery is None:
            self.state.record_enabled(app.key, enabled=enabled)
        return response

    def _lifecycle_url(self, app: ConnectApp, event: str) -> str:
        url = app.lifecycle_url(event)
        if url is None:
            raise FakeJiraError(f"app {app.key!r} declares no lifecycle.{event} URL in its descriptor")
        return url

    # --- Pages, context tokens, webhooks (docs/protocol.md §3, §5, §6) ---------------------------------

    def load_page(
        self,
        app: ConnectApp,
        module_key: str,
        *,
        user: User | None = None,
        anonymous: bool = False,
        context: Mapping[str, str] | None = None,
        forgery: Forgery | None = None,
    ) -> Response:
        """GET a page module as Jira's iframe does: context parameters, then ``jwt`` bound to all of them.

        ``context`` fills the module URL's ``{variables}`` (``{project.key}``); unknown ones become empty, as
        in Jira. ``anonymous`` loads it for a logged-out viewer (a public issue): the token has no ``sub``.
        """
        values = context or {}
        url = _CONTEXT_VARIABLE.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), app.module_url(module_key))
        params = {
            "xdm_e": self.base_url,
            "xdm_c": f"channel-{app.key}__{module_key}",
            "cp": self.state.base_path,
            "xdm_deprecated_addon_key_do_not_use": app.key,
            "lic": "active" if self.state.entitlement_number else "none",
            "cv": CONNECT_VERSION,
            "tz": "Europe/Berlin",
            "loc": "en-US",
        }
        url += ("&" if "?" in url else "?") + urlencode(params)
        return self._send(
            app, f"page {module_key}", "GET", url, user=user, anonymous=anonymous, forgery=forgery, jwt_in_query=True
        )

    def context_token(
        self, app: ConnectApp, *, user: User | None = None, anonymous: bool = False, forgery: Forgery | None = None
    ) -> str:
        """What ``AP.context.getToken()`` gives the app's page: qsh ``context-qsh``, 15 minutes."""
        spec = self._token_spec(app, user, CONTEXT_QSH, signed_install=False, anonymous=anonymous)
        return self._mint(app, spec, forgery)

    def call_app(
        self,
        app: ConnectApp,
        method: str,
        url: str,
        *,
        user: User | None = None,
        anonymous: bool = False,
        qsh_bound: bool = False,
        body: Any = None,
        forgery: Forgery | None = None,
    ) -> Response:
        """Call the app as its page's JavaScript would, with ``Authorization: JWT <context token>``.

        ``url`` is relative to the app's baseUrl. ``qsh_bound`` sends a token bound to this request instead
        (what a server-to-server call carries); ``anonymous`` one without ``sub``, as for a logged-out viewer.
        """
        return self._send(
            app,
            f"call {url}",
            method,
            url,
            user=user,
            anonymous=anonymous,
            forgery=forgery,
            body=body,
            context_token=not qsh_bound,
        )

    def send_webhook(
        self,
        app: ConnectApp,
        event: str,
        *,
        issue: Issue | None = None,
        user: User | None = None,
        url: str | None = None,
        forgery: Forgery | None = None,
    ) -> Response:
        """POST ``event`` to the app's webhook URL for it (``url`` picks one when several subscribe)."""
        urls = app.webhook_urls(event)
        if url is None and len(urls) > 1:
            raise FakeJiraError(f"app {app.key!r} subscribes {urls} to {event!r}: pass url= to pick one")
        actor = user or self.admin
        body: dict[str, Any] = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "user": representations.user_json(self.state, actor),
        }
        if issue is not None:
            body["issue"] = representations.issue_json(self.state, issue)
            if event.startswith("jira:issue_"):
                body["issue_event_type_name"] = event.removeprefix("jira:")
        delivery = WebhookDelivery(str(uuid.uuid4()), url or urls[0], body)
        return self._deliver(app, delivery, 0, actor, forgery)

    def retry_webhook(self, app: ConnectApp, *, forgery: Forgery | None = None) -> Response:
        """Deliver the app's last webhook again: same identifier and body, retry count + 1, a fresh token."""
        if app.key not in self._last_webhook:
            raise FakeJiraError(f"site {self.name!r} has sent no webhook to app {app.key!r} yet")
        delivery, retry = self._last_webhook[app.key]
        actor_id = delivery.body["user"]["accountId"]
        actor = next((u for u in self.state.users if u.account_id == actor_id), self.admin)
        return self._deliver(app, delivery, retry + 1, actor, forgery)

    def _deliver(
        self, app: ConnectApp, delivery: WebhookDelivery, retry: int, user: User, forgery: Forgery | None
    ) -> Response:
        self._last_webhook[app.key] = (delivery, retry)
        headers = {
            "X-Atlassian-Webhook-Identifier": delivery.identifier,
            "X-Atlassian-Webhook-Retry": str(retry),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        action = f"webhook {delivery.body['webhookEvent']}" + (f" (retry {retry})" if retry else "")
        return self._send(
            app, action, "POST", delivery.url, user=user, forgery=forgery, body=delivery.body, headers=headers
        )

    # --- Signing and sending ----------------------------------------------------------------------------

    # Traffic still goes to an app that is uninstalled or disabled (with its last secret): Jira would send
    # none, but hostile tests must show the app refuses it.
    def _token_spec(
        self, app: ConnectApp, user: User | None, qsh: QshTarget | str, *, signed_install: bool, anonymous: bool = False
    ) -> TokenSpec:
        if anonymous and user is not None:
            raise FakeJiraError("a request is either anonymous or made by a user: pass user= or anonymous=True")
        subject = None if anonymous else (user or self.admin).account_id
        if signed_install:
            key = self._fake.keys.current
            return TokenSpec(
                "RS256",
                key.private_key,
                self.client_key,
                subject,
                qsh,
                audience=(app.base_url,),
                kid=key.kid,
            )
        lifetime = tokens.CONTEXT_TOKEN_SECONDS if qsh == CONTEXT_QSH else tokens.REQUEST_TOKEN_SECONDS
        return TokenSpec("HS256", self.installation(app).shared_secret, self.client_key, subject, qsh, lifetime)

    def _mint(self, app: ConnectApp, spec: TokenSpec, forgery: Forgery | None) -> str:
        substitute = None
        if forgery is Forgery.PREVIOUS_SECRET:
            previous = self.installation(app).previous_secrets
            if not previous:
                raise FakeJiraError(f"app {app.key!r} has no rotated secret on {self.name!r}: reinstall() it first")
            substitute = previous[-1]
        elif forgery is Forgery.OTHER_SITE_SECRET:
            # A real secret of the same app on another site, when there is one: the sharpest cross-tenant test.
            others = [s.state.installation(app.key) for s in self._fake.sites if s is not self]
            substitute = next((i.shared_secret for i in others if i is not None), None)
        return tokens.mint(spec, forgery, substitute_secret=substitute)

    def _send(
        self,
        app: ConnectApp,
        action: str,
        method: str,
        url: str,
        *,
        user: User | None,
        forgery: Forgery | None,
        anonymous: bool = False,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        signed_install: bool = False,
        context_token: bool = False,
        jwt_in_query: bool = False,
    ) -> Response:
        target = app.target(url)
        path, _, query = target.partition("?")
        qsh = CONTEXT_QSH if context_token else QshTarget(method, path, query, app.base_path)
        spec = self._token_spec(app, user, qsh, signed_install=signed_install, anonymous=anonymous)
        token = self._mint(app, spec, forgery)
        request_headers = dict(headers or {})
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            request_headers["Content-Type"] = "application/json"
        if jwt_in_query:
            target += ("&" if query else "?") + "jwt=" + quote(token, safe="")
        else:
            request_headers["Authorization"] = f"JWT {token}"
        response = app.transport.send(method, target, headers=request_headers, body=data)
        detail = f"forged: {forgery.value}" if forgery else ""
        self._fake.record(
            Event(Direction.TO_APP, self.name, action, request_line(method, target), response.status, detail)
        )
        return response
