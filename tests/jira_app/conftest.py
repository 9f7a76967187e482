"""Driving the app as Jira does, through Django's test client."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from tests.signing import InstallSigner, Site, host_token


@dataclass
class JiraCallbacks:
    """Lifecycle callbacks and requests from a site to the app, signed as Jira signs them."""

    client: Client
    signer: InstallSigner

    def installed(self, site: Site, **body_overrides):
        token = self.signer.token(site.client_key, "/jira/installed")
        return self.client.post(
            "/jira/installed",
            site.lifecycle_body("installed", **body_overrides),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"JWT {token}",
        )

    def uninstalled(self, site: Site):
        token = self.signer.token(site.client_key, "/jira/uninstalled")
        return self.client.post(
            "/jira/uninstalled",
            site.lifecycle_body("uninstalled"),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"JWT {token}",
        )

    def toggled(self, site: Site, event: str, *, secret: str | None = None):
        path = f"/jira/{event}"
        token = host_token(site.client_key, secret or site.secret, "POST", path)
        return self.client.post(
            path,
            site.lifecycle_body(event),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"JWT {token}",
        )

    def load_page(self, site: Site, *, secret: str | None = None, query: str = "xdm_e=x&cp=&lic=none"):
        token = host_token(site.client_key, secret or site.secret, "GET", "/jira/hello.html", query)
        return self.client.get(f"/jira/hello.html?{query}&jwt={token}")

    def webhook(
        self,
        site: Site,
        *,
        identifier: str | None = "wh-1",
        body: bytes | None = None,
        retry: str = "0",
        client: Client | None = None,
    ):
        """An issue-created webhook as Jira delivers it; ``client`` to send through another test client."""
        token = host_token(site.client_key, site.secret, "POST", "/jira/webhooks/issue-created")
        headers = {"HTTP_AUTHORIZATION": f"JWT {token}", "HTTP_X_ATLASSIAN_WEBHOOK_RETRY": retry}
        if identifier is not None:
            headers["HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER"] = identifier
        body = body if body is not None else b'{"webhookEvent": "jira:issue_created", "issue": {"key": "ACME-1"}}'
        return (client or self.client).post(
            "/jira/webhooks/issue-created", body, content_type="application/json", **headers
        )

    def whoami(self, site: Site, token: str):
        return self.client.get("/jira/api/whoami", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.fixture
def jira(client, install_signer) -> JiraCallbacks:
    return JiraCallbacks(client, install_signer)


@pytest.fixture
def site() -> Site:
    return Site("acme")


@pytest.fixture
def installed_site(jira, site) -> Site:
    assert jira.installed(site).status_code == 204
    return site
