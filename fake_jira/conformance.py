"""The conformance check: put any Atlassian Connect app, whatever its language, through the protocol over HTTP.

``python -m fake_jira check <descriptor-url>`` (or ``run_conformance`` from Python) serves a FakeJira on a
loopback port: its install-key service, which the app under test must be configured to fetch keys from, and
its sites' REST APIs, which the app may call back. Every route it exercises comes from the app's descriptor,
except the optional context-token endpoint (``context_path``), which no descriptor names. Requests go only to
the descriptor URL's origin and to the check's own server.

Each case starts from a known state: lifecycle and rotation cases get sites of their own; hostile cases aim
at a shared victim site and verify afterwards that the victim still works with its real secret (and that the
attacker's secret does not). After a failed case the victim and its neighbour are replaced by fresh sites, so
one break does not cascade into every later case.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO
from urllib.parse import quote, urlencode, urlsplit

import requests

from fake_jira import tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.messages import Request, Response
from fake_jira.server import DEFAULT_HOST, ThreadedServer
from fake_jira.simulator import FakeJira
from fake_jira.sites import CONNECT_VERSION, JiraSite
from fake_jira.tokens import Forgery, QshTarget, TokenSpec
from fake_jira.transports import RequestsTransport
from fake_jira.urls import UrlScheme

Statuses = tuple[int, ...]

PAGE_OK: Statuses = (200,)
# Jira counts a lifecycle callback as done on 200 or 204 (docs/protocol.md §2); webhooks on any 2xx.
CALLBACK_OK: Statuses = (200, 204)
DELIVERED: Statuses = tuple(range(200, 300))
REFUSED: Statuses = (401,)
BAD_BODY: Statuses = (400,)
# A front server (not the app) may refuse an oversized request line, header or body before the app sees it.
TOO_LARGE: Statuses = (400, 413, 414, 431)

# Page modules, in the order one is picked to load as Jira's iframe does.
_PAGE_MODULE_TYPES = ("generalPages", "adminPages")
_CONTEXT_VARIABLE = re.compile(r"\{[^{}]+\}")
# Far past any real lifecycle payload (Jira's are under 2 kB).
_OVERSIZED_BODY_CHARS = 1_000_000


class SetupError(Exception):
    """A case could not get the state it starts from (a genuine install was refused)."""


@dataclass(frozen=True)
class CaseResult:
    passed: bool
    expected: str
    got: str
    how_to_fix: str = ""


@dataclass(frozen=True)
class Case:
    """One named check: ``checks`` says what it shows, in a few words; ``run`` sends the requests."""

    name: str
    checks: str
    run: Callable[[Conformance], CaseResult]


@dataclass(frozen=True)
class Skipped:
    """Cases that cannot run against this app (the descriptor lacks the route, or no context path was given)."""

    note: str


@dataclass(frozen=True)
class Outcome:
    name: str
    checks: str
    result: CaseResult

    def line(self) -> str:
        result = self.result
        if result.passed:
            return f"✓ {self.name}: {self.checks} ({result.got})"
        return f"✗ {self.name}: expected {result.expected}, got {result.got} — fix: {result.how_to_fix}"


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(outcome.result.passed for outcome in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def failures(self) -> list[str]:
        return [outcome.name for outcome in self.outcomes if not outcome.result.passed]

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def _describe(statuses: Statuses) -> str:
    return "2xx" if statuses == DELIVERED else " or ".join(map(str, statuses))


class WatchedFakeJira(FakeJira):
    """A FakeJira that remembers every URL requested of it, even those no route answers: a kid that steers the
    app's key fetch out of the key service's path must be seen too."""

    def __init__(self, urls: UrlScheme) -> None:
        super().__init__(urls)
        self.received: list[str] = []

    def handle(self, request: Request) -> Response:
        self.received.append(request.url)
        return super().handle(request)


# One request of a case: a label, how to send it (None: the app declares no such callback), the statuses it may get.
Step = tuple[str, Callable[[], Response | None], Statuses]


class Conformance:
    """What a case works with: the simulator, the app under test, and the sites it is installed on."""

    def __init__(self, fake: WatchedFakeJira, app: ConnectApp, page_key: str, *, context_path: str | None) -> None:
        self.fake = fake
        self.app = app
        self.page_key = page_key
        self.context_path = context_path
        self.webhook_module = _first_webhook(app)
        self._numbers = itertools.count(1)
        self._victim: JiraSite | None = None
        self._other: JiraSite | None = None

    # --- Sites --------------------------------------------------------------------------------------------

    def site_name(self, role: str) -> str:
        return f"{role}-{next(self._numbers)}"

    def new_site(self, role: str) -> JiraSite:
        """A fresh site with the app installed; SetupError when the app refuses the genuine install."""
        site = self.fake.add_site(self.site_name(role))
        response = site.install(self.app)
        if not response.ok:
            raise SetupError(f"the genuine signed install of site {site.name!r} answered {response.status}")
        return site

    @property
    def victim(self) -> JiraSite:
        """The tenant hostile cases attack."""
        if self._victim is None:
            self._victim = self.new_site("victim")
        return self._victim

    @property
    def other(self) -> JiraSite:
        """A second tenant: its genuine tokens and secret are what a cross-tenant attacker holds."""
        if self._other is None:
            self._other = self.new_site("other")
        return self._other

    def forget_tenants(self) -> None:
        """After a failed case: the next case gets fresh sites, not ones the failure may have changed."""
        self._victim = self._other = None

    # --- Requests -----------------------------------------------------------------------------------------

    def send(self, method: str, target: str, *, token: str | None = None, body: bytes = b"") -> Response:
        headers = {"Content-Type": "application/json"} if body else {}
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        return self.app.transport.send(method, target, headers=headers, body=body)

    def page(self, site: JiraSite, forgery: Forgery | None = None) -> Response:
        """The page module loaded exactly as Jira's iframe loads it (or the named forgery of that)."""
        return site.load_page(self.app, self.page_key, forgery=forgery)

    def page_request(
        self,
        site: JiraSite,
        *,
        extra_query: str = "",
        key: str | None = None,
        signed: bool = True,
        jwt_first: bool = False,
    ) -> Response:
        """The page with Jira's context parameters plus ``extra_query``, signed with ``key`` (default: the
        site's secret) over the whole query, as Jira would sign that URL."""
        target = self.app.target(_CONTEXT_VARIABLE.sub("", self.app.module_url(self.page_key)))
        path, _, own_query = target.partition("?")
        jira_params = urlencode(
            {"xdm_e": site.base_url, "cp": site.state.base_path, "lic": "none", "cv": CONNECT_VERSION}
        )
        query = "&".join(part for part in (own_query, jira_params, extra_query) if part)
        if signed:
            spec = self.tenant_spec(site, QshTarget("GET", path, query, self.app.base_path), key)
            jwt = "jwt=" + quote(tokens.mint(spec), safe="")
            query = f"{jwt}&{query}" if jwt_first else f"{query}&{jwt}"
        return self.send("GET", f"{path}?{query}")

    def tenant_spec(self, site: JiraSite, qsh: QshTarget | str, key: str | None = None) -> TokenSpec:
        secret = key or site.installation(self.app).shared_secret
        return TokenSpec("HS256", secret, site.client_key, site.admin.account_id, qsh)

    def webhook(self, site: JiraSite, forgery: Forgery | None = None) -> Response:
        event, url = self._webhook()
        return site.send_webhook(self.app, event, url=url, forgery=forgery)

    def unsigned_webhook(self) -> Response:
        event, url = self._webhook()
        return self.send("POST", self.app.target(url), body=json.dumps({"webhookEvent": event}).encode())

    def _webhook(self) -> tuple[str, str]:
        if self.webhook_module is None:
            raise FakeJiraError(f"app {self.app.key!r} subscribes to no webhook")
        return self.webhook_module

    def context_call(
        self, site: JiraSite, *, query: str = "", forgery: Forgery | None = None, qsh_bound: bool = False
    ) -> Response:
        """A call to the context endpoint with a context token, or a request-bound one (``qsh_bound``)."""
        url = self.context_target() + (f"?{query}" if query else "")
        return site.call_app(self.app, "GET", url, forgery=forgery, qsh_bound=qsh_bound)

    def context_target(self) -> str:
        if self.context_path is None:
            raise FakeJiraError("no context path was given")
        return self.context_path

    def lifecycle_spec(self, site: JiraSite, event: str) -> TokenSpec:
        """The token Jira signs ``event`` with: RS256 from the install-key service for installed/uninstalled."""
        qsh = QshTarget("POST", self.app.target(self._lifecycle_url(event)), "", self.app.base_path)
        if event not in ("installed", "uninstalled"):
            return self.tenant_spec(site, qsh)
        key = self.fake.keys.current
        return TokenSpec(
            "RS256",
            key.private_key,
            site.client_key,
            site.admin.account_id,
            qsh,
            audience=(self.app.base_url,),
            kid=key.kid,
        )

    def lifecycle_body(self, site: JiraSite, event: str, shared_secret: str | None = None) -> dict[str, Any]:
        body = {
            "key": self.app.key,
            "clientKey": site.client_key,
            "baseUrl": site.base_url,
            "productType": "jira",
            "description": f"Atlassian JIRA at {site.base_url}",
            "eventType": event,
        }
        return body if shared_secret is None else {**body, "sharedSecret": shared_secret}

    def post_lifecycle(self, event: str, body: bytes, token: str | None) -> Response:
        return self.send("POST", self.app.target(self._lifecycle_url(event)), token=token, body=body)

    def _lifecycle_url(self, event: str) -> str:
        url = self.app.lifecycle_url(event)
        if url is None:
            raise FakeJiraError(f"app {self.app.key!r} declares no lifecycle.{event}")
        return url

    def key_fetches(self) -> list[str]:
        """Every request the app sent the check's server outside the sites' REST APIs: its install-key fetches,
        and any a crafted kid steered elsewhere."""
        return [url for url in self.fake.received if self.fake.site_for_url(url) is None]

    # --- Verdicts -----------------------------------------------------------------------------------------

    def everywhere(self, site: JiraSite, *, works: bool, forgery: Forgery | None = None) -> list[Step]:
        """One step per authenticated route the check knows: all answer, or all refuse."""
        steps: list[Step] = [("page", lambda: self.page(site, forgery), PAGE_OK if works else REFUSED)]
        if self.webhook_module is not None:
            steps.append(("webhook", lambda: self.webhook(site, forgery), DELIVERED if works else REFUSED))
        if self.context_path is not None:
            steps.append(
                ("context endpoint", lambda: self.context_call(site, forgery=forgery), PAGE_OK if works else REFUSED)
            )
        return steps

    def expect(self, steps: Sequence[Step], how_to_fix: str) -> CaseResult:
        """Send the steps in order; the first answer outside its statuses fails the case."""
        seen: list[str] = []
        for label, send, allowed in steps:
            response = send()
            if response is None:
                continue
            seen.append(f"{label} {response.status}")
            if response.status not in allowed:
                return CaseResult(False, f"{label} {_describe(allowed)}", ", ".join(seen), how_to_fix)
        expected = ", ".join(f"{label} {_describe(allowed)}" for label, _, allowed in steps)
        return CaseResult(True, expected, ", ".join(seen))

    def refused(
        self,
        response: Response,
        allowed: Statuses,
        how_to_fix: str,
        *,
        attacker_secret: str | None = None,
        key_fetches_before: int | None = None,
    ) -> CaseResult:
        """A hostile request's verdict: refused with ``allowed``, no key fetched (when ``key_fetches_before``
        is given), and the victim unchanged."""
        expected, got = _describe(allowed), str(response.status)
        if response.status not in allowed:
            return CaseResult(False, expected, got, how_to_fix)
        if key_fetches_before is not None:
            fetched = self.key_fetches()[key_fetches_before:]
            if fetched:
                return CaseResult(
                    False, f"{expected} before any key fetch", f"{got} after fetching {fetched[0]!r}", how_to_fix
                )
        problem = self.victim_problem(attacker_secret)
        if problem:
            return CaseResult(
                False,
                f"{expected}, the victim unchanged",
                f"{got}, but {problem}",
                "verify the token before reading the body or touching the stored tenant",
            )
        return CaseResult(True, expected, got)

    def victim_problem(self, attacker_secret: str | None) -> str | None:
        """What an attempt changed about the victim, as seen from outside; None when nothing did."""
        page = self.page(self.victim)
        if page.status != 200:
            return f"the victim's genuine page load then got {page.status}"
        if attacker_secret is not None:
            forged = self.page_request(self.victim, key=attacker_secret)
            if forged.status != 401:
                return f"a page token signed with the attacker's secret then got {forged.status}"
        if self.context_path is not None:
            base_url = _json_field(self.context_call(self.victim), "baseUrl")
            if base_url not in (None, self.victim.base_url):
                return f"the context endpoint then reported the victim's baseUrl as {base_url!r}"
        return None


def _first_webhook(app: ConnectApp) -> tuple[str, str] | None:
    hooks = app.descriptor.get("modules", {}).get("webhooks", [])
    return next(((str(hook["event"]), str(hook["url"])) for hook in hooks), None)


def _page_module_key(app: ConnectApp) -> str | None:
    modules = app.descriptor.get("modules", {})
    pages = (page for kind in _PAGE_MODULE_TYPES for page in modules.get(kind, []))
    return next((str(page["key"]) for page in pages if "key" in page and "url" in page), None)


def _json_field(response: Response, name: str) -> object:
    """``name`` from a JSON object response; None when the endpoint answers anything else (its own business)."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


# --- The cases --------------------------------------------------------------------------------------------

_QSH_FIX = (
    "hash the request as received: method, path relative to baseUrl, and the query decoded ('+' is a space), "
    "'jwt' dropped, re-encoded (RFC 3986 unreserved kept), repeated values sorted and joined with ',', "
    "names sorted"
)
_CONTEXT_FIX = "accept qsh 'context-qsh' only on the routes AP.context.getToken() calls, never on pages or webhooks"
_REQUIRED_CLAIMS_FIX = "require the exp, iat, iss and qsh claims on every token"
_FORGERY_FIXES = {
    Forgery.ALG_NONE: "verify with the algorithm the route expects, never the one the token's header names",
    Forgery.EXPIRED: "check exp, with at most a few seconds of leeway",
    Forgery.MISSING_EXP: _REQUIRED_CLAIMS_FIX,
    Forgery.MISSING_QSH: _REQUIRED_CLAIMS_FIX,
    Forgery.MISSING_ISS: _REQUIRED_CLAIMS_FIX,
    Forgery.QSH_OTHER_METHOD: _QSH_FIX,
    Forgery.QSH_OTHER_PATH: _QSH_FIX,
    Forgery.QSH_OTHER_QUERY: _QSH_FIX,
    Forgery.CONTEXT_QSH: _CONTEXT_FIX,
    Forgery.OTHER_SITE_SECRET: "pick the tenant by the token's iss and verify with that tenant's secret only",
    Forgery.WRONG_ISS: "refuse a token whose iss is not an installed tenant (or, on installs, not the clientKey)",
    Forgery.TAMPERED_SIGNATURE: "verify the signature",
    Forgery.GARBAGE: "answer 401 to anything that is not a JWT, never 5xx",
    Forgery.TWO_SEGMENTS: "answer 401 to a token without three segments, never 5xx",
    Forgery.OVERSIZED: "cap the token's length (Jira's are under 2 kB) and answer 401",
    Forgery.HS256_WITH_PUBLIC_KEY: "verify installs with RS256 only, whatever the token's header says",
    Forgery.WRONG_AUD: "check that aud is the app's own baseUrl",
    Forgery.UNKNOWN_KID: "refuse an install whose kid the install-key service answers 404 for",
}
_SIGNED_INSTALL_FIX = (
    "verify installed/uninstalled as RS256 only, with the key fetched by kid from the configured install-key "
    "service; never with a shared secret"
)

# Forged tokens Jira's requests to a tenant's routes must survive.
_REQUEST_FORGERIES = {
    "alg=none": Forgery.ALG_NONE,
    "expired": Forgery.EXPIRED,
    "no exp": Forgery.MISSING_EXP,
    "no qsh": Forgery.MISSING_QSH,
    "no iss": Forgery.MISSING_ISS,
    "qsh of another method": Forgery.QSH_OTHER_METHOD,
    "qsh of another path": Forgery.QSH_OTHER_PATH,
    "qsh of another query": Forgery.QSH_OTHER_QUERY,
    "context token": Forgery.CONTEXT_QSH,
    "other site's secret": Forgery.OTHER_SITE_SECRET,
    "unknown iss": Forgery.WRONG_ISS,
    "tampered signature": Forgery.TAMPERED_SIGNATURE,
    "garbage token": Forgery.GARBAGE,
    "two-segment token": Forgery.TWO_SEGMENTS,
    "100 kB token": Forgery.OVERSIZED,
}
_INSTALL_FORGERIES = {
    "alg=none": Forgery.ALG_NONE,
    "HS256 keyed with the RSA public key": Forgery.HS256_WITH_PUBLIC_KEY,
    "unknown kid": Forgery.UNKNOWN_KID,
    "wrong aud": Forgery.WRONG_AUD,
    "iss not the body's clientKey": Forgery.WRONG_ISS,
    "expired": Forgery.EXPIRED,
    "no exp": Forgery.MISSING_EXP,
    "no qsh": Forgery.MISSING_QSH,
    "no iss": Forgery.MISSING_ISS,
    "qsh of another method": Forgery.QSH_OTHER_METHOD,
    "qsh of another path": Forgery.QSH_OTHER_PATH,
    "qsh of another query": Forgery.QSH_OTHER_QUERY,
    "context qsh": Forgery.CONTEXT_QSH,
    "tampered signature": Forgery.TAMPERED_SIGNATURE,
    "garbage token": Forgery.GARBAGE,
    "two-segment token": Forgery.TWO_SEGMENTS,
    "100 kB token": Forgery.OVERSIZED,
}
# Queries Jira signs as they are: each must be canonicalised exactly as Jira does for its token to verify.
_AWKWARD_QUERIES = {
    "spaces as '+'": "q=two+words",
    "spaces as %20": "q=two%20words",
    "a literal '+' as %2B": "q=1%2B1%3D2",
    "'*' and '~', raw and encoded": "star=a*b&tilde=~x%7Ey",
    "UTF-8 text": "name=%C3%A9t%C3%A9%20%E2%9C%93",
    "repeated names out of order": "b=2&a=z&b=10&a=y&b=1",
    "empty values": "empty=&also=",
    "a name without '='": "flag&x=1",
    "names differing only by case": "Key=1&key=2&KEY=3",
    "encoded '&', '=' and ',' in a value": "v=a%26b%3Dc%2Cd",
    "reserved characters left raw": "p=a:b/c?d@e!f$g'h(i)j",
    "';' in a value": "s=a;b",
}


def _without(name: str) -> Callable[[dict[str, Any]], bytes]:
    return lambda body: json.dumps({key: value for key, value in body.items() if key != name}).encode()


_BAD_BODIES: dict[str, tuple[Callable[[dict[str, Any]], bytes], Statuses]] = {
    "invalid JSON": (lambda body: b"{not json", BAD_BODY),
    "JSON that is not an object": (lambda body: json.dumps([body]).encode(), BAD_BODY),
    "no clientKey": (_without("clientKey"), BAD_BODY),
    "no sharedSecret": (_without("sharedSecret"), BAD_BODY),
    "no baseUrl": (_without("baseUrl"), BAD_BODY),
    "1 MB body": (lambda body: json.dumps({**body, "description": "d" * _OVERSIZED_BODY_CHARS}).encode(), (400, 413)),
}


_KID_FIX = (
    "accept only a plain key id as kid (letters, digits, '.', '_', '-' between single '/', at most 256 "
    "characters) and refuse anything else before building the key URL from it"
)
# Kids that are not plain key ids. Those built from the real kid are the sharpest: an app that pastes them
# into the key URL unchecked may well fetch the real key and accept the install.
_KID_FORGERIES = {
    "missing": Forgery.MISSING_KID,
    "empty": Forgery.EMPTY_KID,
    "a number": Forgery.KID_NOT_STRING,
    "climbing out of the key service": Forgery.KID_PATH_TRAVERSAL,
    "a URL on another host": Forgery.KID_URL,
    "with a query and a fragment": Forgery.KID_QUERY,
    "with CR LF": Forgery.KID_CONTROL_CHARS,
    "of 2 kB": Forgery.KID_TOO_LONG,
}
_REAL_KID_VARIANTS: dict[str, Callable[[str], str]] = {
    "'..' segment back to the real kid": lambda kid: f"x/../{kid}",
    "leading '/'": lambda kid: f"/{kid}",
    "'//'": lambda kid: kid.replace("/", "//", 1),
    "'?' after the real kid": lambda kid: f"{kid}?x=1",
    "'#' after the real kid": lambda kid: f"{kid}#x",
    "'%'-encoded real kid": lambda kid: kid.replace("/", "%2F"),
    "'\\'": lambda kid: kid.replace("/", "\\", 1),
    "'@'": lambda kid: f"{kid}@127.0.0.1",
    "':'": lambda kid: f"{kid}:80",
    "tab": lambda kid: f"{kid}\t",
    "of 257 characters": lambda kid: (kid + "/" + "k" * 257)[:257],
}


def _allowed_for(forgery: Forgery) -> Statuses:
    return REFUSED + TOO_LARGE if forgery is Forgery.OVERSIZED else REFUSED


Sender = Callable[[Conformance], Response]
# Makes the token of a hostile callback (None: no token) from the genuine spec Jira would sign it with and the
# secret the attacker chose (an install carries it in its body).
TokenMaker = Callable[[Conformance, TokenSpec, str], str | None]


def _accepts(name: str, checks: str, label: str, send: Sender, allowed: Statuses, how_to_fix: str) -> Case:
    return Case(name, checks, lambda c: c.expect([(label, lambda: send(c), allowed)], how_to_fix))


def _refuses(name: str, checks: str, send: Sender, how_to_fix: str, allowed: Statuses = REFUSED) -> Case:
    return Case(name, checks, lambda c: c.refused(send(c), allowed, how_to_fix))


def _forged_page(forgery: Forgery) -> Sender:
    return lambda c: c.page(c.victim, forgery)


def _awkward_page(query: str) -> Sender:
    return lambda c: c.page_request(c.victim, extra_query=query)


def _forged_webhook(forgery: Forgery) -> Sender:
    return lambda c: c.webhook(c.victim, forgery)


def _forged_context_call(forgery: Forgery, *, qsh_bound: bool) -> Sender:
    return lambda c: c.context_call(c.victim, forgery=forgery, qsh_bound=qsh_bound)


def _forged(forgery: Forgery) -> TokenMaker:
    return lambda c, spec, attacker_secret: tokens.mint(spec, forgery)


def _with_kid(make_kid: Callable[[str], str]) -> TokenMaker:
    return lambda c, spec, attacker_secret: tokens.mint(replace(spec, kid=make_kid(str(spec.kid))))


def _no_token(c: Conformance, spec: TokenSpec, attacker_secret: str) -> None:
    return None


def _hs256_with_attackers_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    return tokens.mint(replace(spec, algorithm="HS256", key=attacker_secret, kid=None))


def _hs256_with_tenants_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    secret = c.victim.installation(c.app).shared_secret
    return tokens.mint(replace(spec, algorithm="HS256", key=secret, kid=None))


def _genuine_token_of_other_site(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    # What the owner of another site holds: a token Atlassian really signed, for their own clientKey.
    return tokens.mint(replace(spec, issuer=c.other.client_key))


def _other_sites_secret(c: Conformance, spec: TokenSpec, attacker_secret: str) -> str:
    return tokens.mint(replace(spec, key=c.other.installation(c.app).shared_secret))


def _hostile_callback(
    event: str, make_token: TokenMaker, how_to_fix: str, *, allowed: Statuses = REFUSED, fetch_allowed: bool = True
) -> Callable[[Conformance], CaseResult]:
    """A forged ``event`` callback naming the victim; an install carries an attacker's secret in its body."""

    def run(c: Conformance) -> CaseResult:
        victim = c.victim
        attacker_secret = tokens.new_shared_secret()
        body_secret = attacker_secret if event == "installed" else None
        body = json.dumps(c.lifecycle_body(victim, event, body_secret)).encode()
        token = make_token(c, c.lifecycle_spec(victim, event), attacker_secret)
        fetches = len(c.key_fetches())
        response = c.post_lifecycle(event, body, token)
        return c.refused(
            response,
            allowed,
            how_to_fix,
            attacker_secret=body_secret,
            key_fetches_before=None if fetch_allowed else fetches,
        )

    return run


def _bad_body(make_body: Callable[[dict[str, Any]], bytes], allowed: Statuses) -> Callable[[Conformance], CaseResult]:
    """A genuinely signed install of the victim whose body is wrong; it carries an attacker's secret unless the
    case removes it."""

    def run(c: Conformance) -> CaseResult:
        victim = c.victim
        attacker_secret = tokens.new_shared_secret()
        body = make_body(c.lifecycle_body(victim, "installed", attacker_secret))
        response = c.post_lifecycle("installed", body, tokens.mint(c.lifecycle_spec(victim, "installed")))
        how_to_fix = (
            "read the body strictly, capped in size: a JSON object with clientKey, sharedSecret and baseUrl strings"
        )
        return c.refused(response, allowed, how_to_fix, attacker_secret=attacker_secret)

    return run


def _context_tenants(c: Conformance) -> CaseResult:
    """Each tenant's token is answered for that tenant, even when a parameter names another one."""
    victim, other = c.victim, c.other
    xdm_e = urlencode({"xdm_e": victim.base_url})
    calls: list[tuple[JiraSite, str, Callable[[], Response]]] = [
        (victim, "the victim's context token", lambda: c.context_call(victim)),
        (other, "the other site's context token", lambda: c.context_call(other)),
        (
            other,
            "the other site's token, xdm_e naming the victim",
            lambda: c.context_call(other, query=xdm_e, qsh_bound=True),
        ),
    ]
    for site, label, send in calls:
        response = send()
        # An endpoint that does not report a clientKey is judged by its status alone.
        client_key = _json_field(response, "clientKey")
        if response.status != 200 or client_key not in (None, site.client_key):
            return CaseResult(
                False,
                f"{label}: 200 with its own clientKey",
                f"{label}: {response.status}, clientKey {client_key!r}",
                "choose the tenant by the token's iss alone, never by xdm_e or another parameter",
            )
    return CaseResult(True, "200 for each tenant", "200, each tenant its own clientKey")


def _lifecycle_cases(app: ConnectApp) -> list[Case | Skipped]:
    def install(c: Conformance) -> CaseResult:
        site = c.fake.add_site(c.site_name("newcomer"))
        steps: list[Step] = [("installed", lambda: site.install(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=True), _SIGNED_INSTALL_FIX)

    def disabled(c: Conformance) -> CaseResult:
        site = c.new_site("disabled")
        steps: list[Step] = [("disabled", lambda: site.disable(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=False), "refuse a disabled tenant's tokens with 401")

    def enabled(c: Conformance) -> CaseResult:
        site = c.new_site("reenabled")
        steps: list[Step] = [
            ("disabled", lambda: site.disable(app), CALLBACK_OK),
            ("enabled", lambda: site.enable(app), CALLBACK_OK),
        ]
        return c.expect(steps + c.everywhere(site, works=True), "accept the tenant's tokens again after enabled")

    def uninstalled(c: Conformance) -> CaseResult:
        site = c.new_site("uninstalled")
        steps: list[Step] = [("uninstalled", lambda: site.uninstall(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=False), "refuse an uninstalled tenant's tokens with 401")

    def reinstalled(c: Conformance) -> CaseResult:
        site = c.new_site("reinstalled")
        steps: list[Step] = [
            ("uninstalled", lambda: site.uninstall(app), CALLBACK_OK),
            ("installed", lambda: site.install(app), CALLBACK_OK),
        ]
        return c.expect(steps + c.everywhere(site, works=True), "a new signed install revives an uninstalled tenant")

    def rotation_new(c: Conformance) -> CaseResult:
        site = c.new_site("rotated")
        steps: list[Step] = [("reinstalled", lambda: site.reinstall(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=True), "store the sharedSecret each install brings")

    def rotation_old(c: Conformance) -> CaseResult:
        site = c.new_site("rotated")
        steps: list[Step] = [("reinstalled", lambda: site.reinstall(app), CALLBACK_OK)]
        steps += c.everywhere(site, works=False, forgery=Forgery.PREVIOUS_SECRET)
        return c.expect(steps, "replace the stored secret on reinstall, for every process, before answering")

    cases: list[Case | Skipped] = [
        Case("install", "a genuine signed install is accepted, and the tenant's tokens then work", install)
    ]
    if app.lifecycle_url("enabled") and app.lifecycle_url("disabled"):
        cases += [
            Case("disabled", "a disabled tenant gets 401 everywhere", disabled),
            Case("enabled again", "an enabled tenant works again", enabled),
        ]
    else:
        cases.append(Skipped("disabled, enabled again: the descriptor declares no lifecycle.enabled/disabled"))
    return [
        *cases,
        Case("uninstalled", "an uninstalled tenant gets 401 everywhere", uninstalled),
        Case("reinstalled", "a reinstall after an uninstall works again", reinstalled),
        Case("rotation new secret", "after a reinstall the new sharedSecret works everywhere", rotation_new),
        Case(
            "rotation old secret", "after a reinstall the old sharedSecret gets 401 at once, everywhere", rotation_old
        ),
    ]


def _page_cases() -> list[Case | Skipped]:
    return [
        _accepts("page load", "Jira's page load is answered", "page", lambda c: c.page(c.victim), PAGE_OK, _QSH_FIX),
        *(
            _accepts(
                f"qsh {label}",
                f"Jira's token for a page URL with {label} is accepted",
                "page",
                _awkward_page(query),
                PAGE_OK,
                _QSH_FIX,
            )
            for label, query in _AWKWARD_QUERIES.items()
        ),
        _accepts(
            "qsh jwt parameter first",
            "Jira's token is accepted wherever 'jwt' stands in the query",
            "page",
            lambda c: c.page_request(c.victim, jwt_first=True),
            PAGE_OK,
            _QSH_FIX,
        ),
        _refuses(
            "page no token",
            "a page load without a token is refused",
            lambda c: c.page_request(c.victim, signed=False),
            "require a JWT on every page",
        ),
        *(
            _refuses(
                f"page {label}",
                f"refused: {forgery.value}",
                _forged_page(forgery),
                _FORGERY_FIXES[forgery],
                _allowed_for(forgery),
            )
            for label, forgery in _REQUEST_FORGERIES.items()
        ),
    ]


def _webhook_cases() -> list[Case | Skipped]:
    return [
        _accepts(
            "webhook",
            "Jira's signed webhook delivery is accepted",
            "webhook",
            lambda c: c.webhook(c.victim),
            DELIVERED,
            "accept a webhook whose token is bound to the POST",
        ),
        _refuses(
            "webhook no token",
            "a webhook without a token is refused",
            lambda c: c.unsigned_webhook(),
            "require a JWT on every webhook",
        ),
        *(
            _refuses(
                f"webhook {label}",
                f"refused: {forgery.value}",
                _forged_webhook(forgery),
                _FORGERY_FIXES[forgery],
                _allowed_for(forgery),
            )
            for label, forgery in _REQUEST_FORGERIES.items()
        ),
    ]


def _context_cases() -> list[Case | Skipped]:
    bound = {
        "token bound to another path": Forgery.QSH_OTHER_PATH,
        "token bound to another query": Forgery.QSH_OTHER_QUERY,
        "token bound to another method": Forgery.QSH_OTHER_METHOD,
    }
    context_tokens = {
        "context token without qsh": Forgery.MISSING_QSH,
        "expired context token": Forgery.EXPIRED,
        "context token signed with another site's secret": Forgery.OTHER_SITE_SECRET,
        "context token of an unknown iss": Forgery.WRONG_ISS,
        "context token alg=none": Forgery.ALG_NONE,
        "tampered context token": Forgery.TAMPERED_SIGNATURE,
    }
    return [
        _accepts(
            "context endpoint context token",
            "a context token (qsh 'context-qsh') is accepted",
            "context endpoint",
            lambda c: c.context_call(c.victim),
            PAGE_OK,
            "accept qsh 'context-qsh' on the routes AP.context.getToken() calls",
        ),
        _accepts(
            "context endpoint request-bound token",
            "a token bound to exactly this request is accepted",
            "context endpoint",
            lambda c: c.context_call(c.victim, qsh_bound=True),
            PAGE_OK,
            _QSH_FIX,
        ),
        Case(
            "context endpoint tenant isolation",
            "each tenant's token is answered for that tenant, whatever xdm_e says",
            _context_tenants,
        ),
        _refuses(
            "context endpoint no token",
            "a call without a token is refused",
            lambda c: c.send("GET", c.app.target(c.context_target())),
            "require a JWT on the context endpoint",
        ),
        *(
            _refuses(
                f"context endpoint {label}",
                f"refused: {forgery.value}",
                _forged_context_call(forgery, qsh_bound=True),
                _QSH_FIX,
            )
            for label, forgery in bound.items()
        ),
        *(
            _refuses(
                f"context endpoint {label}",
                f"refused: {forgery.value}",
                _forged_context_call(forgery, qsh_bound=False),
                _FORGERY_FIXES[forgery],
            )
            for label, forgery in context_tokens.items()
        ),
    ]


def _install_cases() -> list[Case | Skipped]:
    return [
        Case(
            "hostile install no token",
            "refused: no token",
            _hostile_callback("installed", _no_token, _SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install HS256 with an attacker's secret",
            "refused: an install signed HS256 with the secret its body brings",
            _hostile_callback("installed", _hs256_with_attackers_secret, _SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install HS256 with the tenant's own secret",
            "refused: an install signed HS256 with the tenant's current sharedSecret",
            _hostile_callback("installed", _hs256_with_tenants_secret, _SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile install genuine token of another site",
            "refused: another site's genuine signed install, its body naming the victim",
            _hostile_callback(
                "installed", _genuine_token_of_other_site, "check that the token's iss is the body's clientKey"
            ),
        ),
        *(
            Case(
                f"hostile install {label}",
                f"refused: {forgery.value}",
                _hostile_callback(
                    "installed", _forged(forgery), _FORGERY_FIXES[forgery], allowed=_allowed_for(forgery)
                ),
            )
            for label, forgery in _INSTALL_FORGERIES.items()
        ),
        *(
            Case(
                f"hostile install kid {label}",
                f"refused before any key fetch: {forgery.value}",
                _hostile_callback("installed", _forged(forgery), _KID_FIX, fetch_allowed=False),
            )
            for label, forgery in _KID_FORGERIES.items()
        ),
        *(
            Case(
                f"hostile install kid {label}",
                "refused before any key fetch",
                _hostile_callback("installed", _with_kid(make_kid), _KID_FIX, fetch_allowed=False),
            )
            for label, make_kid in _REAL_KID_VARIANTS.items()
        ),
        *(
            Case(f"hostile install body {label}", "refused, the tenant unchanged", _bad_body(make_body, allowed))
            for label, (make_body, allowed) in _BAD_BODIES.items()
        ),
    ]


def _callback_cases(app: ConnectApp) -> list[Case | Skipped]:
    cases: list[Case | Skipped] = [
        Case(
            "hostile uninstall HS256 with the tenant's own secret",
            "refused: an uninstall signed HS256 with the tenant's sharedSecret; the tenant still works",
            _hostile_callback("uninstalled", _hs256_with_tenants_secret, _SIGNED_INSTALL_FIX),
        ),
        Case(
            "hostile uninstall alg=none",
            f"refused: {Forgery.ALG_NONE.value}; the tenant still works",
            _hostile_callback("uninstalled", _forged(Forgery.ALG_NONE), _FORGERY_FIXES[Forgery.ALG_NONE]),
        ),
        Case(
            "hostile uninstall genuine token of another site",
            "refused: another site's genuine signed uninstall, its body naming the victim",
            _hostile_callback(
                "uninstalled", _genuine_token_of_other_site, "check that the token's iss is the body's clientKey"
            ),
        ),
    ]
    if not app.lifecycle_url("disabled"):
        return [*cases, Skipped("hostile disabled: the descriptor declares no lifecycle.disabled")]
    return [
        *cases,
        Case(
            "hostile disabled no token",
            "refused: no token; the tenant still works",
            _hostile_callback("disabled", _no_token, "require the tenant's JWT on disabled"),
        ),
        Case(
            "hostile disabled other site's secret",
            "refused: the victim's iss, signed with another site's sharedSecret",
            _hostile_callback("disabled", _other_sites_secret, _FORGERY_FIXES[Forgery.OTHER_SITE_SECRET]),
        ),
        Case(
            "hostile disabled context token",
            f"refused: {Forgery.CONTEXT_QSH.value}",
            _hostile_callback("disabled", _forged(Forgery.CONTEXT_QSH), _CONTEXT_FIX),
        ),
        Case(
            "hostile disabled qsh of another path",
            f"refused: {Forgery.QSH_OTHER_PATH.value}",
            _hostile_callback("disabled", _forged(Forgery.QSH_OTHER_PATH), _QSH_FIX),
        ),
    ]


def build_cases(app: ConnectApp, *, has_webhook: bool, context_path: str | None) -> list[Case | Skipped]:
    """Every case in the order it runs; Skipped notes stand where cases cannot run against this app."""
    cases = [*_lifecycle_cases(app), *_page_cases()]
    cases += _webhook_cases() if has_webhook else [Skipped("webhook cases: the descriptor subscribes to no webhook")]
    cases += _context_cases() if context_path else [Skipped("context endpoint cases: no --context-path given")]
    return [*cases, *_install_cases(), *_callback_cases(app)]


# --- Running ----------------------------------------------------------------------------------------------


def _connect(
    fake: WatchedFakeJira, transport: RequestsTransport, descriptor_path: str, context_path: str | None
) -> tuple[Conformance | None, CaseResult]:
    """The descriptor case: fetched, installable by Jira, with a page module to observe tenants through."""
    try:
        app = fake.connect_app(transport, descriptor_path)
    except requests.RequestException as error:
        how_to_fix = "start the app first, and pass the URL it serves its descriptor at"
        return None, CaseResult(False, "200 with the descriptor", f"no answer ({type(error).__name__})", how_to_fix)
    except DescriptorError as error:
        return None, CaseResult(False, "a descriptor Jira installs", "; ".join(error.problems), "fix each problem")
    page_key = _page_module_key(app)
    if page_key is None:
        how_to_fix = "declare a generalPages or adminPages module: the check loads it to see each tenant's state"
        return None, CaseResult(False, "a page module", "none", how_to_fix)
    return Conformance(fake, app, page_key, context_path=context_path), CaseResult(True, "200, installable", "200")


def _run_case(c: Conformance, case: Case) -> CaseResult:
    try:
        return case.run(c)
    except SetupError as error:
        return CaseResult(False, "a genuine install to start from", str(error), "make the 'install' case pass first")
    except requests.RequestException as error:
        how_to_fix = "answer every request, whatever it holds: look at the app's log"
        return CaseResult(False, "an HTTP answer", f"no answer ({type(error).__name__})", how_to_fix)


def run_conformance(
    descriptor_url: str, *, keys_port: int = 0, context_path: str | None = None, out: TextIO | None = None
) -> Report:
    """Put the app whose descriptor is at ``descriptor_url`` through every case, printing one line per case
    and ``N passed, M failed`` last (to ``out``, standard output by default).

    The app must fetch install keys from ``http://127.0.0.1:<keys_port>/install-keys``, printed first.
    ``context_path`` (relative to the descriptor's baseUrl) is the endpoint AP.context.getToken() tokens call.
    Raises FakeJiraError when the check cannot start (a bad URL, the port taken).
    """
    out = out or sys.stdout
    parts = urlsplit(descriptor_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FakeJiraError(f"{descriptor_url!r} is not the absolute http(s) URL of the app's descriptor")
    server = ThreadedServer(DEFAULT_HOST, keys_port)
    try:
        server.start()
    except OSError as error:
        raise FakeJiraError(f"cannot serve the install-key service on {DEFAULT_HOST}:{keys_port}: {error}") from None
    # Swapped in before the app is told anything, so no request can reach the server's first FakeJira.
    fake = server.server.fake = WatchedFakeJira(server.fake.urls)
    report = Report()

    def record(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        print(outcome.line(), file=out, flush=True)

    try:
        print(f"install-key service: {fake.keys_url}", file=out, flush=True)
        session = requests.Session()
        # Proxy settings from the environment would carry the app's traffic through another host.
        session.trust_env = False
        transport = RequestsTransport(f"{parts.scheme}://{parts.netloc}", session=session)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        c, result = _connect(fake, transport, target, context_path)
        record(Outcome("descriptor", "served, and Jira would install it", result))
        if c is not None:
            for item in build_cases(c.app, has_webhook=c.webhook_module is not None, context_path=context_path):
                if isinstance(item, Skipped):
                    report.skipped.append(item.note)
                    print(f"- skipped {item.note}", file=out, flush=True)
                    continue
                outcome = Outcome(item.name, item.checks, _run_case(c, item))
                record(outcome)
                if not outcome.result.passed:
                    c.forget_tenants()
    finally:
        server.stop()
    print(report.summary(), file=out, flush=True)
    return report


# --- Command line: python -m fake_jira check --------------------------------------------------------------

_CHECK_EPILOG = """\
The app must fetch install keys from the check's own install-key service, so choose its port and start the
app with it first; for this project's app:

  ATLASSIAN_CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8002/install-keys python manage.py runserver 8000
  python -m fake_jira check http://127.0.0.1:8000/jira/atlassian-connect.json \\
      --keys-port 8002 --context-path /jira/api/whoami

Every route comes from the descriptor, except the context endpoint (--context-path). Nothing but the app
and the check's own loopback server is contacted. Exit status: 0 when every case passes, 1 when one fails,
2 when the check cannot start.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Put a running Connect app, in any language, through the conformance suite over HTTP."
    parser.epilog = _CHECK_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "descriptor_url", help="the app's descriptor, e.g. http://127.0.0.1:8000/jira/atlassian-connect.json"
    )
    parser.add_argument(
        "--keys-port",
        type=int,
        default=0,
        help="loopback port of the check's install-key service, which the app must be configured with "
        "(default: any free port, printed at start)",
    )
    parser.add_argument(
        "--context-path",
        help="the app's endpoint for AP.context.getToken() tokens, relative to its baseUrl, e.g. /jira/api/whoami "
        "(default: its cases are skipped)",
    )


def run(args: argparse.Namespace) -> int:
    """Check a running Connect app's conformance over HTTP (lifecycle, rotation, isolation, qsh, hostile cases)."""
    try:
        report = run_conformance(args.descriptor_url, keys_port=args.keys_port, context_path=args.context_path)
    except FakeJiraError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    return 0 if report.failed == 0 else 1
