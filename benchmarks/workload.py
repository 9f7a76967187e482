"""What the load generator sends: Jira's requests to the app, signed as Jira signs them, one per line.

Tokens come from fake_jira (its own qsh and signing code, independent of the app's). Every HS256 request
carries a token of its own (a distinct ``jti``, ``iat`` of the minute it was made, Jira's 3-minute ``exp``
or 15 minutes for context tokens), bound by ``qsh`` to its exact request; a webhook delivery also carries an
``X-Atlassian-Webhook-Identifier`` of its own, as Jira gives every delivery. Signed installs are RS256: signing
one costs the client about a millisecond, so each installer site signs a small pool of tokens that requests
reuse, while every request's body carries a new sharedSecret (the body is not signed, so each is a real
secret rotation). The app keeps no per-token state, so a reused install token costs it what a new one does.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from fake_jira import representations, tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.simulator import FakeJira
from fake_jira.sites import CONNECT_VERSION, JiraSite

BARE_PATH = "/"  # bare Django's one view (benchmarks/bare)
DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
PAGE_MODULE = "hello"
WHOAMI_PATH = "/jira/api/whoami"
WEBHOOK_EVENT = "jira:issue_created"
HEADER_SEPARATOR = "|"  # between "Name: value" pairs in a request line; no header sent here contains it


@dataclass(frozen=True)
class Request:
    """One request as the load generator sends it; ``body`` is one line of JSON or empty.

    ``headers`` are the other headers than Authorization and Content-Type, as "Name: value" strings.
    """

    method: str
    target: str
    authorization: str = ""
    headers: tuple[str, ...] = ()
    body: str = ""

    def line(self) -> str:
        # Tab-separated: no field holds a tab or a newline (tokens are base64url, bodies compact JSON).
        headers = HEADER_SEPARATOR.join(self.headers)
        return "\t".join((self.method, self.target, self.authorization, headers, self.body))

    @classmethod
    def from_line(cls, line: str) -> Request:
        method, target, authorization, headers, body = line.rstrip("\n").split("\t", 4)
        return cls(method, target, authorization, tuple(filter(None, headers.split(HEADER_SEPARATOR))), body)

    def header_items(self) -> dict[str, str]:
        """Every header the request carries, Authorization and Content-Type included."""
        items = dict(header.split(": ", 1) for header in self.headers)
        if self.authorization:
            items["Authorization"] = self.authorization
        if self.body:
            items["Content-Type"] = "application/json"
        return items


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for request in requests:
            out.write(request.line() + "\n")
            count += 1
    return count


def read_requests(path: Path) -> list[Request]:
    with path.open(encoding="utf-8") as lines:
        return [Request.from_line(line) for line in lines]


@dataclass(frozen=True)
class Tenant:
    """A simulated site installed on one app server (``app`` is the descriptor reached through it)."""

    site: JiraSite
    app: ConnectApp

    @property
    def secret(self) -> str:
        return self.site.installation(self.app).shared_secret


def install_tenants(fake: FakeJira, app: ConnectApp, prefix: str, count: int) -> list[Tenant]:
    """``count`` new sites, each installed through the app's real signed-install route."""
    tenants = []
    for index in range(count):
        site = fake.add_site(f"{prefix}-{index:02d}")
        site.add_project("BENCH", "Benchmark")
        response = site.install(app)
        if response.status != 204:
            raise RuntimeError(f"installing {site.name} answered {response.status}: {response.text[:200]}")
        tenants.append(Tenant(site, app))
    return tenants


def _hs256(tenant: Tenant, secret: str, qsh: tokens.QshTarget | str, lifetime: int) -> str:
    return _sign(tenant.site.client_key, secret, tenant.site.admin.account_id, qsh, lifetime)


def _sign(client_key: str, secret: str, subject: str, qsh: tokens.QshTarget | str, lifetime: int) -> str:
    spec = tokens.TokenSpec("HS256", secret, client_key, subject, qsh, lifetime)
    return tokens.encode(spec.header(), {**spec.claims(), "jti": uuid.uuid4().hex}, spec.key)


def _page_target(tenant: Tenant) -> tuple[str, str]:
    """The page's path and query as Jira's iframe requests it (the query before ``jwt``)."""
    app, site = tenant.app, tenant.site
    params = {
        "xdm_e": site.base_url,
        "xdm_c": f"channel-{app.key}__{PAGE_MODULE}",
        "cp": site.state.base_path,
        "xdm_deprecated_addon_key_do_not_use": app.key,
        "lic": "none",
        "cv": CONNECT_VERSION,
        "tz": "Europe/Berlin",
        "loc": "en-US",
    }
    return app.target(app.module_url(PAGE_MODULE)), urlencode(params)


def bare_requests() -> Iterator[Request]:
    return itertools.repeat(Request("GET", BARE_PATH))


def descriptor_requests() -> Iterator[Request]:
    return itertools.repeat(Request("GET", DESCRIPTOR_PATH))


def page_loads(tenants: Sequence[Tenant]) -> Iterator[Request]:
    """Page loads round-robin over ``tenants``, each with a fresh token in the ``jwt`` parameter."""
    targets = []
    for tenant in tenants:
        path, query = _page_target(tenant)
        targets.append((tenant, tenant.secret, path, query, tokens.QshTarget("GET", path, query, tenant.app.base_path)))
    for tenant, secret, path, query, qsh in itertools.cycle(targets):
        token = _hs256(tenant, secret, qsh, tokens.REQUEST_TOKEN_SECONDS)
        yield Request("GET", f"{path}?{query}&jwt={quote(token, safe='')}")


def context_calls(tenants: Sequence[Tenant]) -> Iterator[Request]:
    """``AP.context.getToken()`` calls to the app's API, round-robin, each with a fresh context token."""
    for tenant, secret in itertools.cycle([(tenant, tenant.secret) for tenant in tenants]):
        token = _hs256(tenant, secret, tokens.CONTEXT_QSH, tokens.CONTEXT_TOKEN_SECONDS)
        yield Request("GET", tenant.app.target(WHOAMI_PATH), f"JWT {token}")


@dataclass(frozen=True)
class SeededTenant:
    """A tenant put straight into the store by benchmarks/seed.py: no site behind it, only its key and secret."""

    client_key: str
    secret: str


def read_seeded(path: Path) -> list[SeededTenant]:
    with path.open(encoding="utf-8") as lines:
        return [SeededTenant(*line.rstrip("\n").split("\t", 1)) for line in lines]


def seeded_context_calls(app: ConnectApp, seeded: Sequence[SeededTenant]) -> Iterator[Request]:
    """Context-token API calls round-robin over seeded tenants, so every one of them is looked up in turn."""
    target = app.target(WHOAMI_PATH)
    for tenant in itertools.cycle(seeded):
        token = _sign(tenant.client_key, tenant.secret, "bench-user", tokens.CONTEXT_QSH, tokens.CONTEXT_TOKEN_SECONDS)
        yield Request("GET", target, f"JWT {token}")


def webhook_deliveries(tenants: Sequence[Tenant]) -> Iterator[Request]:
    """``jira:issue_created`` deliveries round-robin, each a new delivery: its own identifier and token.

    Signed as fake_jira's sites sign them (HS256 in ``Authorization``, qsh bound to the POST), with the headers
    Jira sends, so the app's de-duplication keeps every one.
    """
    shapes = []
    for tenant in tenants:
        app, site = tenant.app, tenant.site
        url = app.webhook_urls(WEBHOOK_EVENT)[0]
        target = app.target(url)
        # The issue the deliveries are about: made once per site, whatever the number of runs.
        issue = site.state.issues.get("BENCH-1") or site.add_issue("BENCH", "Bulk-edited issue")
        body = {
            "webhookEvent": WEBHOOK_EVENT,
            "issue_event_type_name": WEBHOOK_EVENT.removeprefix("jira:"),
            "user": representations.user_json(site.state, site.admin),
            "issue": representations.issue_json(site.state, issue),
        }
        qsh = tokens.QshTarget("POST", target, "", app.base_path)
        shapes.append((tenant, tenant.secret, target, qsh, body))
    for tenant, secret, target, qsh, body in itertools.cycle(shapes):
        token = _hs256(tenant, secret, qsh, tokens.REQUEST_TOKEN_SECONDS)
        headers = (
            f"X-Atlassian-Webhook-Identifier: {uuid.uuid4()}",
            "X-Atlassian-Webhook-Retry: 0",
            "X-Atlassian-Webhook-Flow: Primary",
        )
        delivery = {**body, "timestamp": int(time.time() * 1000)}
        yield Request("POST", target, f"JWT {token}", headers, json.dumps(delivery, separators=(",", ":")))


def interleave(*sources: Iterator[Request]) -> Iterator[Request]:
    """One request from each source in turn."""
    for batch in zip(*sources, strict=False):
        yield from batch


def reinstalls(fake: FakeJira, installers: Sequence[Tenant]) -> Iterator[Request]:
    """Signed installs round-robin over ``installers``, each rotating the site's secret to a new one.

    Each install has a token of its own, as Jira signs each callback anew: the app accepts a token once, for
    one body (a second body under the same token is answered 401 replayed_token). RS256 signing costs about a
    millisecond here, before the run.
    """
    key = fake.keys.current
    specs = []
    for tenant in installers:
        app, site = tenant.app, tenant.site
        target = app.target(app.lifecycle_url("installed") or "")
        spec = tokens.TokenSpec(
            "RS256",
            key.private_key,
            site.client_key,
            site.admin.account_id,
            tokens.QshTarget("POST", target, "", app.base_path),
            audience=(app.base_url,),
            kid=key.kid,
        )
        specs.append((tenant, target, spec))
    for tenant, target, spec in itertools.cycle(specs):
        site = tenant.site
        body = {
            "key": tenant.app.key,
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {site.base_url}",
            "eventType": "installed",
            "sharedSecret": tokens.new_shared_secret(),
        }
        yield Request("POST", target, f"JWT {tokens.mint(spec)}", body=json.dumps(body, separators=(",", ":")))
