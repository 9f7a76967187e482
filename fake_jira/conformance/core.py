"""What every case works with: the case and result types, the verdicts, and ``Conformance``, the state a
case drives (the simulator, the app under test, the sites it is installed on).

A case is a ``Case(name, checks, run)``: ``run`` takes the ``Conformance`` and returns a ``CaseResult``. Each
area module (lifecycle, pages, webhooks, context, installs) builds its cases from the helpers here; runner.py
puts them in order.

Each case starts from a known state: lifecycle and rotation cases get sites of their own; hostile cases aim
at a shared victim site and verify afterwards that the victim still works with its real secret (and that the
attacker's secret does not). After a failed case the victim and its neighbour are replaced by fresh sites, so
one break does not cascade into every later case.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from fake_jira import tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import FakeJiraError
from fake_jira.messages import Request, Response, request_line
from fake_jira.simulator import FakeJira
from fake_jira.sites import CONNECT_VERSION, JiraSite
from fake_jira.tokens import Forgery, QshTarget, TokenSpec
from fake_jira.transports import AppTransport
from fake_jira.urls import UrlScheme

Statuses = tuple[int, ...]

PAGE_OK: Statuses = (200,)
# Jira counts a lifecycle callback as done on 200 or 204; webhooks on any 2xx.
CALLBACK_OK: Statuses = (200, 204)
DELIVERED: Statuses = tuple(range(200, 300))
REFUSED: Statuses = (401,)
BAD_BODY: Statuses = (400,)
# A front server (not the app) may refuse an oversized request line, header or body before the app sees it.
TOO_LARGE: Statuses = (400, 413, 414, 431)

# Page modules, in the order one is picked to load as Jira's iframe does.
_PAGE_MODULE_TYPES = ("generalPages", "adminPages")
_CONTEXT_VARIABLE = re.compile(r"\{[^{}]+\}")


class SetupError(Exception):
    """A case could not get the state it starts from (a genuine install was refused)."""


class Verdict(enum.Enum):
    """What a case's outcome means.

    FAIL: a forgery or replay accepted, a tenant's state or secret changed by a forgery, a genuine request
    refused, a 5xx, a secret in a response. WARN: refused, but not with the conventional status (any 4xx is a
    refusal). HARDENING: the app is laxer than it could be, but the protocol does not require it (kid shapes).
    """

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    WARN = "warn"
    HARDENING = "hardening"


def is_refusal(status: int) -> bool:
    """Any 4xx refuses a request; which one is convention, and a different one only a warning."""
    return 400 <= status < 500


@dataclass(frozen=True)
class CaseResult:
    """A case's result: ``severity`` says what a result that did not pass counts as (FAIL, WARN or HARDENING)."""

    passed: bool
    expected: str
    got: str
    how_to_fix: str = ""
    severity: Verdict = Verdict.FAIL

    @property
    def verdict(self) -> Verdict:
        return Verdict.PASS if self.passed else self.severity


@dataclass(frozen=True)
class Case:
    """One named check: ``checks`` says what it shows, in a few words; ``run`` sends the requests."""

    name: str
    checks: str
    run: Callable[[Conformance], CaseResult]


@dataclass(frozen=True)
class Skipped:
    """Cases that cannot run against this app: ``note`` names them and says why, ``enable`` what enables them
    (an option of the check, or a change to the descriptor)."""

    note: str
    enable: str = ""

    def line(self) -> str:
        return f"- skipped {self.note}" + (f" (enable: {self.enable})" if self.enable else "")


@dataclass(frozen=True)
class Group:
    """One area's cases: ``cases`` builds them for the app; ``skip`` says why they cannot run here (None when
    they can). runner.GROUPS lists the groups in the order they run."""

    name: str
    cases: Callable[[ConnectApp], list[Case | Skipped]]
    skip: Callable[[Conformance], Skipped | None] = lambda c: None


@dataclass(frozen=True)
class Outcome:
    """A case's result as the report counts it: with ``strict`` a warning is a failure."""

    name: str
    checks: str
    result: CaseResult
    strict: bool = False

    @property
    def verdict(self) -> Verdict:
        verdict = self.result.verdict
        return Verdict.FAIL if self.strict and verdict is Verdict.WARN else verdict

    def line(self) -> str:
        result, verdict = self.result, self.verdict
        if verdict is Verdict.PASS:
            return f"✓ {self.name}: {self.checks} ({result.got})"
        found = f"expected {result.expected}, got {result.got}"
        if verdict is Verdict.WARN:
            return f"⚠ {self.name}: {found} — refused, but not with the conventional status; fix: {result.how_to_fix}"
        if verdict is Verdict.HARDENING:
            return f"◇ {self.name}: {found} — hardening beyond the protocol; consider: {result.how_to_fix}"
        return f"✗ {self.name}: {found} — fix: {result.how_to_fix}"


@dataclass
class Report:
    """Every outcome in order; ``failed`` counts fails only (and warnings under ``strict``). ``remarks`` are
    what the report must say besides the cases (a --connect-to that was used, the clean-up)."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def _named(self, verdict: Verdict) -> list[str]:
        return [outcome.name for outcome in self.outcomes if outcome.verdict is verdict]

    @property
    def failures(self) -> list[str]:
        return self._named(Verdict.FAIL)

    @property
    def warnings(self) -> list[str]:
        return self._named(Verdict.WARN)

    @property
    def hardening(self) -> list[str]:
        return self._named(Verdict.HARDENING)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def passed(self) -> int:
        return len(self.outcomes) - self.failed

    def notes(self) -> str:
        """The line before the summary: what passed with a remark."""
        warnings, hardening = len(self.warnings), len(self.hardening)
        return f"{warnings} warning{'s' * (warnings != 1)}, {hardening} hardening note{'s' * (hardening != 1)}"

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def describe(statuses: Statuses) -> str:
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


class SecretWatch:
    """The app's transport, watched: any response that holds a tenant's sharedSecret (current or rotated
    away), whatever its status, is a leak."""

    def __init__(self, transport: AppTransport, fake: FakeJira, app_key: str) -> None:
        self.transport = transport
        self.fake = fake
        self.app_key = app_key
        self.leaks: list[str] = []

    def _secrets(self) -> Iterator[str]:
        for site in self.fake.sites:
            installation = site.state.installation(self.app_key)
            if installation is not None:
                yield installation.shared_secret
                yield from installation.previous_secrets

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        response = self.transport.send(method, target, headers=headers, body=body)
        if response.body and any(secret.encode() in response.body for secret in self._secrets()):
            self.leaks.append(request_line(method, target))
        return response


class Conformance:
    """What a case works with: the simulator, the app under test, and the sites it is installed on."""

    def __init__(self, fake: WatchedFakeJira, app: ConnectApp, page_key: str, *, context_path: str | None) -> None:
        self.fake = fake
        self.watch = SecretWatch(app.transport, fake, app.key)
        self.app = replace(app, transport=self.watch)
        self.page_key = page_key
        self.context_path = context_path
        self.webhook_module = first_webhook(app)
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

    def page(self, site: JiraSite, forgery: Forgery | None = None, *, anonymous: bool = False) -> Response:
        """The page module loaded exactly as Jira's iframe loads it (or the named forgery of that);
        ``anonymous`` for a logged-out viewer, with no ``sub`` in the token."""
        return site.load_page(self.app, self.page_key, forgery=forgery, anonymous=anonymous)

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
        self,
        site: JiraSite,
        *,
        query: str = "",
        forgery: Forgery | None = None,
        qsh_bound: bool = False,
        anonymous: bool = False,
    ) -> Response:
        """A call to the context endpoint with a context token, or a request-bound one (``qsh_bound``)."""
        url = self.context_target() + (f"?{query}" if query else "")
        return site.call_app(self.app, "GET", url, forgery=forgery, qsh_bound=qsh_bound, anonymous=anonymous)

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
        """Send the steps in order; the first answer outside its statuses ends the case.

        A step that should be refused (``REFUSED``) and gets another 4xx is only a warning, and the steps go on.
        """
        seen: list[str] = []
        unconventional: tuple[str, Statuses] | None = None
        for label, send, allowed in steps:
            response = send()
            if response is None:
                continue
            seen.append(f"{label} {response.status}")
            if response.status in allowed:
                continue
            if allowed == REFUSED and is_refusal(response.status):
                unconventional = unconventional or (label, allowed)
                continue
            return CaseResult(False, f"{label} {describe(allowed)}", ", ".join(seen), how_to_fix)
        if unconventional is not None:
            label, allowed = unconventional
            return CaseResult(False, f"{label} {describe(allowed)}", ", ".join(seen), how_to_fix, Verdict.WARN)
        expected = ", ".join(f"{label} {describe(allowed)}" for label, _, allowed in steps)
        return CaseResult(True, expected, ", ".join(seen))

    def refused(
        self,
        response: Response,
        allowed: Statuses,
        how_to_fix: str,
        *,
        attacker_secret: str | None = None,
        key_fetches_before: int | None = None,
        beyond_protocol: bool = False,
        victim_problem: Callable[[], str | None] | None = None,
    ) -> CaseResult:
        """A hostile request's verdict: refused (``allowed`` is the conventional status), no key fetched (when
        ``key_fetches_before`` is given), and the victim unchanged (``victim_problem`` tells, by default the
        Connect tenant's ``victim_problem``).

        Accepted, a 5xx or a changed victim is a failure, and any other 4xx a warning; ``beyond_protocol``
        turns everything but a 5xx into a hardening note.
        """
        expected, got = describe(allowed), str(response.status)
        severity = Verdict.HARDENING if beyond_protocol and response.status < 500 else Verdict.FAIL
        if response.status not in allowed and not is_refusal(response.status):
            return CaseResult(False, expected, got, how_to_fix, severity)
        if key_fetches_before is not None:
            fetched = self.key_fetches()[key_fetches_before:]
            if fetched:
                return CaseResult(
                    False,
                    f"{expected} before any key fetch",
                    f"{got} after fetching {fetched[0]!r}",
                    how_to_fix,
                    severity,
                )
        problem = victim_problem() if victim_problem is not None else self.victim_problem(attacker_secret)
        if problem:
            return CaseResult(
                False,
                f"{expected}, the victim unchanged",
                f"{got}, but {problem}",
                "verify the token before reading the body or touching the stored tenant",
            )
        if response.status not in allowed:
            return CaseResult(False, expected, got, how_to_fix, Verdict.WARN)
        return CaseResult(True, expected, got)

    def victim_problem(self, attacker_secret: str | None) -> str | None:
        """What an attempt changed about the victim, as seen from outside; None when nothing did."""
        page = self.page(self.victim)
        if page.status != 200:
            return f"the victim's genuine page load then got {page.status}"
        if attacker_secret is not None:
            forged = self.page_request(self.victim, key=attacker_secret)
            if not is_refusal(forged.status):
                return f"a page token signed with the attacker's secret then got {forged.status}"
        if self.context_path is not None:
            base_url = json_field(self.context_call(self.victim), "baseUrl")
            if base_url not in (None, self.victim.base_url):
                return f"the context endpoint then reported the victim's baseUrl as {base_url!r}"
        return None


def first_webhook(app: ConnectApp) -> tuple[str, str] | None:
    hooks = app.descriptor.get("modules", {}).get("webhooks", [])
    return next(((str(hook["event"]), str(hook["url"])) for hook in hooks), None)


def page_module_key(app: ConnectApp) -> str | None:
    modules = app.descriptor.get("modules", {})
    pages = (page for kind in _PAGE_MODULE_TYPES for page in modules.get(kind, []))
    return next((str(page["key"]) for page in pages if "key" in page and "url" in page), None)


def json_field(response: Response, name: str) -> object:
    """``name`` from a JSON object response; None when the endpoint answers anything else (its own business)."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


# --- The cases --------------------------------------------------------------------------------------------

QSH_FIX = (
    "hash the request as received: method, path relative to baseUrl, and the query decoded ('+' is a space), "
    "'jwt' dropped, re-encoded (RFC 3986 unreserved kept), repeated values sorted and joined with ',', "
    "names sorted"
)
CONTEXT_FIX = "accept qsh 'context-qsh' only on the routes AP.context.getToken() calls, never on pages or webhooks"
_REQUIRED_CLAIMS_FIX = "require the exp, iat, iss and qsh claims on every token"
FORGERY_FIXES = {
    Forgery.ALG_NONE: "verify with the algorithm the route expects, never the one the token's header names",
    Forgery.EXPIRED: "check exp, with at most a few seconds of leeway",
    Forgery.MISSING_EXP: _REQUIRED_CLAIMS_FIX,
    Forgery.MISSING_QSH: _REQUIRED_CLAIMS_FIX,
    Forgery.MISSING_ISS: _REQUIRED_CLAIMS_FIX,
    Forgery.QSH_OTHER_METHOD: QSH_FIX,
    Forgery.QSH_OTHER_PATH: QSH_FIX,
    Forgery.QSH_OTHER_QUERY: QSH_FIX,
    Forgery.CONTEXT_QSH: CONTEXT_FIX,
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
SIGNED_INSTALL_FIX = (
    "verify installed/uninstalled as RS256 only, with the key fetched by kid from the configured install-key "
    "service; never with a shared secret"
)

# Forged tokens Jira's requests to a tenant's routes must survive.
REQUEST_FORGERIES = {
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


def allowed_for(forgery: Forgery) -> Statuses:
    return REFUSED + TOO_LARGE if forgery is Forgery.OVERSIZED else REFUSED


Sender = Callable[[Conformance], Response]
# Makes the token of a hostile callback (None: no token) from the genuine spec Jira would sign it with and the
# secret the attacker chose (an install carries it in its body).
TokenMaker = Callable[[Conformance, TokenSpec, str], str | None]


def accepts(name: str, checks: str, label: str, send: Sender, allowed: Statuses, how_to_fix: str) -> Case:
    return Case(name, checks, lambda c: c.expect([(label, lambda: send(c), allowed)], how_to_fix))


def refuses(name: str, checks: str, send: Sender, how_to_fix: str, allowed: Statuses = REFUSED) -> Case:
    return Case(name, checks, lambda c: c.refused(send(c), allowed, how_to_fix))
