"""``python -m fake_jira demo``: the Connect JWT flow told as a story, played against a real app.

Two halves. ``Story`` plays the scenes against any Connect app through any transport (every route but the
context-token endpoint comes from the app's descriptor), printing one line per step: what was sent, what
came back, ✓ or ✗. ``run`` is the command: it serves fake_jira over loopback HTTP, starts the app (a shell
command) or uses one already running, waits for its descriptor, plays the story, and always stops the app.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

import jwt
import requests

from fake_jira import tokens
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.messages import Response
from fake_jira.models import Direction, Event
from fake_jira.server import DEFAULT_HOST, DEFAULT_PORT, ThreadedServer
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery
from fake_jira.transports import AppTransport, RequestsTransport

DEFAULT_DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
# This project's endpoint for context tokens (jira_app's whoami); another app names its own.
DEFAULT_CONTEXT_PATH = "/jira/api/whoami"
# The port `python -m fake_jira serve` uses, so an app started by hand can be pointed at it in advance.
DEFAULT_STARTUP_SECONDS = 30.0
README_SECTION = 'README.md, section "How the Connect JWT flow works"'

# Page module types whose first module the story loads.
PAGE_MODULE_TYPES = ("generalPages", "adminPages", "jiraProjectPages", "configurePage")
# Each tenant holds its own projects, so a page that shows another tenant's data cannot pass.
SITES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "acme": (("ACME", "Acme Rockets"), ("OPS", "Operations"), ("WEB", "Website")),
    "globex": (("GLX", "Globex Core"), ("HR", "Human Resources")),
    "initech": (("TPS", "TPS Reports"),),
}
INTRO = """\
How a Connect app knows who is calling:
  1. Install: Jira POSTs the site's clientKey and a fresh sharedSecret to the app, in a request signed RS256
     by Atlassian; the app checks the signature with the public key named by the token's kid, then stores both.
  2. From then on every request from that site (page loads, webhooks, enable/disable) carries a JWT signed
     HS256 with that secret: its iss names the site (the tenant), its qsh hashes the method, path and query.
  3. The app calls the site's REST API back with a JWT of its own, signed with the same secret."""


def fingerprint_of(secret: str) -> str:
    """Enough of a secret's SHA-256 to tell two secrets apart on screen; the secret itself is never shown."""
    return hashlib.sha256(secret.encode()).hexdigest()[:4] + "…"


def _short(text: str, length: int = 8) -> str:
    return text if len(text) <= length else text[:length] + "…"


# --- Reading the app's answers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageFacts:
    """What a page says about the request: this project's hello page marks each fact with an element id.

    A fact is None when the page has no such element; ``project_keys`` are the ``<code>`` items of ``#projects``.
    """

    site: str | None
    client_key: str | None
    account_id: str | None
    project_keys: tuple[str, ...] | None
    rest_error: str | None


def _element(page: str, element_id: str) -> str | None:
    # A regex, not an HTML parser: the ids are the page's contract with this story, not its markup.
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    return found.group(2) if found else None


def _text(markup: str | None) -> str | None:
    return None if markup is None else " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def read_page(page: str) -> PageFacts:
    projects = _element(page, "projects")
    keys = None if projects is None else tuple(html.unescape(k) for k in re.findall(r"<code>(.*?)</code>", projects))
    return PageFacts(
        site=_text(_element(page, "site")),
        client_key=_text(_element(page, "client-key")),
        account_id=_text(_element(page, "account-id")),
        project_keys=keys,
        rest_error=_text(_element(page, "rest-error")),
    )


def _reason(response: Response) -> str:
    """The app's own word for a refusal (jira_app answers {"error", "message"}), shortened for one line."""
    try:
        body = response.json()
    except ValueError:
        return _short(" ".join(response.text.split()), 110)
    said = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
    return _short(str(said if said is not None else body), 110)


# --- Showing what was sent --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def token(self) -> str:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme == "JWT":
            return token
        return next((p[4:] for p in self.target.partition("?")[2].split("&") if p.startswith("jwt=")), "")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Recorder:
    """Passes each request on to the app and keeps the last one, so a line shows what really went out."""

    def __init__(self, transport: AppTransport) -> None:
        self.transport = transport
        self._last: Sent | None = None

    def take(self) -> Sent | None:
        """The request sent since the last take(), if any."""
        sent, self._last = self._last, None
        return sent

    def send(self, method: str, target: str, *, headers: Mapping[str, str], body: bytes = b"") -> Response:
        self._last = Sent(method, target, dict(headers), body)
        return self.transport.send(method, target, headers=headers, body=body)


def describe_token(app: ConnectApp, sent: Sent) -> str:
    """The token's shape in a few words: algorithm, key id, audience, lifetime and what its qsh is bound to."""
    try:
        header = jwt.get_unverified_header(sent.token)
        claims = jwt.decode(sent.token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "not a JWT"
    parts = [str(header.get("alg"))]
    if "kid" in header:
        parts.append(f"kid {header['kid']}")
    audience = claims.get("aud")
    if audience:
        own = app.base_url in (audience if isinstance(audience, list) else [audience])
        parts.append("aud = the app's baseUrl" if own else f"aud {audience}")
    if isinstance(claims.get("exp"), int) and isinstance(claims.get("iat"), int):
        seconds = claims["exp"] - claims["iat"]
        parts.append(f"{seconds // 60} min" if seconds % 60 == 0 and seconds > 300 else f"{seconds} s")
    path, _, query = sent.target.partition("?")
    qsh = claims.get("qsh")
    if qsh == tokens.CONTEXT_QSH:
        parts.append('qsh "context-qsh"')
    elif qsh == tokens.query_string_hash(sent.method, path, query, base_path=app.base_path):
        parts.append("qsh of this request")
    else:
        parts.append("qsh of another request" if qsh else "no qsh")
    return ", ".join(parts)


def describe_request(app: ConnectApp, sent: Sent, note: str = "") -> str:
    """``GET /path?…&jwt=<token shape>`` or ``POST /path  JWT <token shape>``: the query and secrets elided."""
    token = describe_token(app, sent) + (f", {note}" if note else "")
    path, _, query = sent.target.partition("?")
    if "jwt=" in query:
        return f"{sent.method} {path}?…&jwt=<{token}>"
    return f"{sent.method} {path}{'?…' if query else ''}  JWT <{token}>"


# --- The story --------------------------------------------------------------------------------------------


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self._paint("32", text)

    def bad(self, text: str) -> str:
        return self._paint("31;1", text)

    def dim(self, text: str) -> str:
        return self._paint("2", text)

    def bold(self, text: str) -> str:
        return self._paint("1", text)


class _StoryOver(Exception):
    """The app stopped answering: no later step can tell anything."""


Judge = Callable[[Response, list[Event]], tuple[bool, str]]


def _accepted(what: str) -> Judge:
    def judge(response: Response, events: list[Event]) -> tuple[bool, str]:
        if response.ok:
            return True, what
        return False, f"refused ({_reason(response)}); a correct app accepts this"

    return judge


def _refused(why: str) -> Judge:
    def judge(response: Response, events: list[Event]) -> tuple[bool, str]:
        if response.status == 401:
            return True, f"refused, as it must be: {why} (the app said: {_reason(response)})"
        if response.ok:
            return False, f"ACCEPTED, but {why}: a correct app answers 401"
        return False, f"a correct app answers 401 here: {why} ({_reason(response)})"

    return judge


class Story:
    """Three sites meet the app: installs, pages, a context token, a webhook, a rotation, disable and enable,
    a forged install, an uninstall. Each step prints one line; ``play`` says whether all came out right.

    ``fake`` may serve in process (with the ``responses`` router) or over HTTP; ``transport`` reaches the app.
    """

    def __init__(
        self,
        fake: FakeJira,
        transport: AppTransport,
        *,
        descriptor_path: str = DEFAULT_DESCRIPTOR_PATH,
        context_path: str = DEFAULT_CONTEXT_PATH,
        out: TextIO | None = None,
        color: bool = False,
    ) -> None:
        self.fake = fake
        self.descriptor_path = descriptor_path
        self.context_path = context_path
        self.out = out or sys.stdout
        self.style = _Style(color)
        self.passed = 0
        self.failed = 0
        self._wire = _Recorder(transport)
        # Read from the descriptor by _descriptor(), the first scene.
        self._page_key: str | None = None
        self._webhook_event: str | None = None

    def play(self) -> bool:
        """Play every scene in order; True when every step came out as a correct Connect app's would."""
        started = time.perf_counter()
        try:
            app = self._descriptor()
            if app is not None:
                sites = [self._new_site(name, projects) for name, projects in SITES.items()]
                self._installs(app, sites)
                self._pages(app, sites)
                self._context_token(app, sites[0])
                self._webhook(app, sites[1])
                self._rotation(app, sites)
                self._disable_enable(app, sites[2])
                self._forged_install(app, sites[0])
                self._uninstall(app, sites[1])
        except _StoryOver:
            self._print(self.style.bad("The app stopped answering: the story ends here."))
        self._summary(time.perf_counter() - started)
        return self.failed == 0

    # --- Output ---

    def _print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _chapter(self, title: str, why: str) -> None:
        self._print()
        self._print(f"{self.style.bold(title)}  {self.style.dim(why)}")

    def _line(self, ok: bool, who: str, sent: str, status: int | None, said: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        mark = self.style.good("✓") if ok else self.style.bad("✗")
        answer = "no answer" if status is None else str(status)
        self._print(f"{mark} {who:<8} {sent}  → {self.style.bold(answer)}: {said}")

    def _summary(self, seconds: float) -> None:
        total = self.passed + self.failed
        counts = f"{total} steps: {self.passed} ✓, {self.failed} ✗ in {seconds:.1f} s."
        self._print()
        if self.failed:
            self._print(self.style.bad(counts) + " Each ✗ line says what a correct Connect app answers instead.")
        else:
            self._print(
                self.style.good(counts) + " The app checked every signature, found each tenant by its token's iss, "
                "and refused every forged or stale token."
            )
        self._print(f"How it works, step by step: {README_SECTION}.")

    # --- One step ---

    def _step(
        self,
        app: ConnectApp,
        who: str,
        send: Callable[[], Response | None],
        judge: Judge,
        *,
        note: str = "",
        extra: Callable[[Sent], str] | None = None,
    ) -> None:
        """Send one request, judge the answer, print the line; FakeJiraError becomes a ✗ line, not a crash."""
        mark = len(self.fake.events)
        self._wire.take()
        try:
            response = send()
        except FakeJiraError as error:
            self._line(False, who, "(not sent)", None, str(error))
            return
        except requests.RequestException as error:
            sent = self._wire.take()
            shown = describe_request(app, sent, note) if sent else "(sent)"
            self._line(False, who, shown, None, f"the app did not answer ({type(error).__name__})")
            raise _StoryOver from error
        sent = self._wire.take()
        if response is None or sent is None:
            # enable()/disable() send nothing when the descriptor declares no such callback.
            return
        ok, said = judge(response, self.fake.events[mark:])
        shown = describe_request(app, sent, note) + (f" {extra(sent)}" if extra else "")
        self._line(ok, who, shown, response.status, said)

    # --- Scenes ---

    def _new_site(self, name: str, projects: tuple[tuple[str, str], ...]) -> JiraSite:
        site = self.fake.add_site(name)
        for key, project_name in projects:
            site.add_project(key, project_name)
        return site

    def _descriptor(self) -> ConnectApp | None:
        self._chapter("The descriptor.", "Jira reads it first: the app's key, baseUrl, callbacks, pages, webhooks.")
        sent = f"GET {self.descriptor_path}"
        try:
            app = self.fake.connect_app(self._wire, self.descriptor_path)
        except DescriptorError as error:
            self._line(False, "jira", sent, None, "Jira would not install it: " + " ".join(error.problems))
            return None
        except requests.RequestException as error:
            self._line(False, "jira", sent, None, f"the app did not answer ({type(error).__name__})")
            raise _StoryOver from error
        self._page_key = _page_module(app)
        self._webhook_event = _webhook_event(app)
        if self._page_key is None:
            self._line(False, "jira", sent, 200, f"no page module ({', '.join(PAGE_MODULE_TYPES)}) to load")
            return None
        hook = f", webhook {self._webhook_event}" if self._webhook_event else ""
        self._line(
            True,
            "jira",
            sent,
            200,
            f"key {app.key}, baseUrl {app.base_url}, installs signed (signed-install), "
            f"context tokens bound (context-qsh); page {self._page_key!r} at {app.module_url(self._page_key)}{hook}",
        )
        return app

    def _install(self, app: ConnectApp, site: JiraSite, *, what: str, rotated_from: str | None = None) -> None:
        def judge(response: Response, events: list[Event]) -> tuple[bool, str]:
            if not response.ok:
                return False, f"refused ({_reason(response)}); a correct app accepts a genuine install"
            fetched = any(e.action == "install key" for e in events)
            key = f"fetched from {self.fake.keys_url}/<kid>" if fetched else "cached by its kid"
            return True, f"{what}: signature verified with Atlassian's public key ({key})"

        self._step(app, site.name, lambda: site.install(app), judge, extra=_install_body(rotated_from))

    def _installs(self, app: ConnectApp, sites: list[JiraSite]) -> None:
        self._chapter("Signed installs.", "Each site sends its clientKey and a new sharedSecret, signed by Atlassian.")
        for site in sites:
            self._install(app, site, what="installed")

    def _page(self, app: ConnectApp, site: JiraSite, *, lead: str = "", forgery: Forgery | None = None) -> None:
        def judge(response: Response, events: list[Event]) -> tuple[bool, str]:
            if response.status != 200:
                return False, f"a correct app shows the page ({_reason(response)})"
            ok, said = _judge_page(site, read_page(response.text), events)
            return ok, lead + said

        assert self._page_key is not None  # _descriptor() ends the story without one
        key = self._page_key
        self._step(app, site.name, lambda: site.load_page(app, key, forgery=forgery), judge)

    def _page_refused(self, app: ConnectApp, site: JiraSite, forgery: Forgery | None, why: str, note: str) -> None:
        assert self._page_key is not None
        key = self._page_key
        self._step(app, site.name, lambda: site.load_page(app, key, forgery=forgery), _refused(why), note=note)

    def _pages(self, app: ConnectApp, sites: list[JiraSite]) -> None:
        self._chapter(
            "Page loads.", "Jira's iframe URL carries a JWT signed with the site's secret; its iss picks the tenant."
        )
        for site in sites:
            self._page(app, site)

    def _context_token(self, app: ConnectApp, site: JiraSite) -> None:
        self._chapter(
            "A context token.",
            "The page's JavaScript asks AP.context.getToken() for a token and calls the app's own API with it.",
        )
        user = site.add_user("Ada Lovelace")

        def judge(response: Response, events: list[Event]) -> tuple[bool, str]:
            if response.status != 200:
                return False, f"a correct app answers who is asking ({_reason(response)})"
            try:
                answer = response.json()
            except ValueError:
                return True, "answered, but not with JSON"
            if not isinstance(answer, dict):
                return True, "answered, but not with a JSON object"
            account, client_key = answer.get("accountId"), answer.get("clientKey")
            if account not in (None, user.account_id) or client_key not in (None, site.client_key):
                return False, f"WRONG caller: accountId {account}, clientKey {client_key}"
            return True, (
                f"accountId {_short(str(account))} ({user.display_name}, who asked), "
                f"clientKey {_short(str(client_key))} ({site.name})"
            )

        self._step(app, site.name, lambda: site.call_app(app, "GET", self.context_path, user=user), judge)
        self._page_refused(
            app,
            site,
            Forgery.CONTEXT_QSH,
            "a page needs a token bound to its own URL",
            "a context token",
        )

    def _webhook(self, app: ConnectApp, site: JiraSite) -> None:
        self._chapter("A webhook.", "Jira POSTs the event with a JWT; a retry repeats the delivery's identifier.")
        event = self._webhook_event
        if event is None:
            self._print(self.style.dim("  (the descriptor subscribes to no webhook: nothing to send)"))
            return
        project = next(iter(site.state.projects))
        issue = site.add_issue(project, "Printer on fire")
        self._step(
            app,
            site.name,
            lambda: site.send_webhook(app, event, issue=issue),
            _accepted(f"delivered {event} for {issue.key}"),
            extra=_webhook_id,
        )
        self._step(
            app,
            site.name,
            lambda: site.retry_webhook(app),
            _accepted("the retry accepted too; a correct app keeps one copy per identifier"),
            extra=_webhook_id,
        )

    def _rotation(self, app: ConnectApp, sites: list[JiraSite]) -> None:
        self._chapter(
            "A secret rotation.", "A reinstall brings a new sharedSecret: the old one must stop working at once."
        )
        site, others = sites[0], sites[1:]
        old = site.installation(app).shared_secret
        self._install(app, site, what="reinstalled, secret rotated", rotated_from=old)
        self._page_refused(
            app, site, Forgery.PREVIOUS_SECRET, "that secret was replaced by the reinstall", "the old secret"
        )
        self._page(app, site, lead="the new secret works: ")
        for other in others:
            self._page(app, other, lead="untouched: ")

    def _disable_enable(self, app: ConnectApp, site: JiraSite) -> None:
        self._chapter("Disable and enable.", "A disabled app gets no traffic from the site; enabled, it works again.")
        if app.lifecycle_url("disabled") is None or app.lifecycle_url("enabled") is None:
            self._print(self.style.dim("  (the descriptor declares no enabled/disabled callbacks: skipped)"))
            return
        self._step(app, site.name, lambda: site.disable(app), _accepted("disabled"))
        self._page_refused(app, site, None, "the app is disabled on this site", "while disabled")
        self._step(app, site.name, lambda: site.enable(app), _accepted("enabled again"))
        self._page(app, site, lead="works again: ")

    def _forged_install(self, app: ConnectApp, site: JiraSite) -> None:
        self._chapter(
            "A forged install.",
            f"Someone who is not Atlassian tries to install over {site.name}, with a secret of their own.",
        )
        self._step(
            app,
            site.name,
            lambda: site.install(app, forgery=Forgery.TAMPERED_SIGNATURE),
            _refused("only Atlassian's private key makes a valid install signature"),
            note=f"forged: {Forgery.TAMPERED_SIGNATURE.value}",
            extra=_install_body(None),
        )
        self._page(app, site, lead="the forgery changed nothing: ")

    def _uninstall(self, app: ConnectApp, site: JiraSite) -> None:
        self._chapter("Uninstall.", "Signed by Atlassian like the install; afterwards the site's tokens are refused.")
        self._step(app, site.name, lambda: site.uninstall(app), _accepted("uninstalled"))
        self._page_refused(app, site, None, "the app is uninstalled from this site", "its last secret")


def _page_module(app: ConnectApp) -> str | None:
    modules = app.descriptor.get("modules") or {}
    for module_type in PAGE_MODULE_TYPES:
        entries = modules.get(module_type) or []
        for module in entries if isinstance(entries, list) else [entries]:
            if isinstance(module, Mapping) and "key" in module and "url" in module:
                return str(module["key"])
    return None


def _webhook_event(app: ConnectApp) -> str | None:
    hooks = (app.descriptor.get("modules") or {}).get("webhooks") or []
    return next((str(hook["event"]) for hook in hooks if isinstance(hook, Mapping) and hook.get("event")), None)


def _install_body(rotated_from: str | None) -> Callable[[Sent], str]:
    def extra(sent: Sent) -> str:
        body = sent.json() or {}
        secret = fingerprint_of(str(body.get("sharedSecret", "")))
        was = f", was {fingerprint_of(rotated_from)}" if rotated_from else ""
        return f"+ clientKey {_short(str(body.get('clientKey')))}, sharedSecret (secret fingerprint {secret}{was})"

    return extra


def _webhook_id(sent: Sent) -> str:
    headers = {name.lower(): value for name, value in sent.headers.items()}
    retry = headers.get("x-atlassian-webhook-retry", "0")
    return f"+ identifier {_short(headers.get('x-atlassian-webhook-identifier', '?'))}, retry {retry}"


def _judge_page(site: JiraSite, facts: PageFacts, events: list[Event]) -> tuple[bool, str]:
    """Whether the page shows this site, its own projects, and REST calls to this site only."""
    problems, said = [], []
    if facts.site is None and facts.client_key is None:
        said.append("(the page has no #site or #client-key element to show which tenant it resolved)")
    elif facts.site not in (None, site.base_url) or facts.client_key not in (None, site.client_key):
        problems.append(f"WRONG TENANT: the page shows {facts.site} ({facts.client_key}), not {site.name}")
    else:
        said.append(f"resolved {site.name} (clientKey {_short(site.client_key)})")
    calls = [e for e in events if e.direction is Direction.FROM_APP and e.action == "REST"]
    problems += [f"called another site's API: {e.request}" for e in calls if e.site != site.name]
    problems += [
        f"{site.base_url} refused the app's REST call {e.request} with {e.status}" for e in calls if e.status >= 400
    ]
    if facts.rest_error:
        problems.append(f"the page reports a REST error: {facts.rest_error}")
    if facts.project_keys is not None:
        expected = sorted(site.state.projects)
        if sorted(facts.project_keys) != expected:
            problems.append(f"the page lists projects {list(facts.project_keys)}, the site has {expected}")
        source = f"fetched from {site.base_url}" if calls else "from the app's cache (no REST call this time)"
        count = len(facts.project_keys)
        said.append(f"{count} project{'' if count == 1 else 's'} ({', '.join(facts.project_keys)}) {source}")
    return (False, "; ".join(problems)) if problems else (True, ", ".join(said))


# --- The command: fake_jira's server, the app's process, the story ------------------------------------------


class AppDidNotStart(Exception):
    """The app exited, or never answered its descriptor URL in time; the message says which."""


class AppProcess:
    """The app as a shell command in its own process group, so that stopping it stops its workers too.

    Its output is kept aside (the last lines only), to be shown when something goes wrong.
    """

    OUTPUT_LINES = 30
    STOP_SECONDS = 10.0

    def __init__(self, command: str, env: Mapping[str, str]) -> None:
        self.command = command
        self._output: collections.deque[str] = collections.deque(maxlen=self.OUTPUT_LINES)
        # shell=True: the command is the user's own, written as they would type it (with $PORT).
        self._process = subprocess.Popen(  # noqa: S602
            command,
            shell=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own session: Ctrl-C reaches the demo only, which then stops the whole group itself.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="app-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None  # stdout=PIPE
        for line in self._process.stdout:
            self._output.append(line.rstrip())

    def output_tail(self) -> list[str]:
        return list(self._output)

    def wait_until_serving(self, url: str, timeout: float) -> None:
        """Return once GET ``url`` answers 200; AppDidNotStart if the app exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        last = "no connection"
        while True:
            code = self._process.poll()
            if code is not None:
                raise AppDidNotStart(f"the app exited with status {code} before GET {url} answered")
            try:
                status = requests.get(url, timeout=2).status_code
                if status == 200:
                    return
                last = f"HTTP {status}"
            except requests.RequestException as error:
                last = type(error).__name__
            if time.monotonic() > deadline:
                raise AppDidNotStart(f"GET {url} did not answer 200 within {timeout:g} s (last: {last})")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after STOP_SECONDS."""
        self._signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=self.STOP_SECONDS)
        # Also reaches workers whose master already exited.
        self._signal(signal.SIGKILL)
        self._process.wait()
        self._reader.join(timeout=1)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _signals_stop_the_demo() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does, so the cleanup that stops the app still runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--app-command",
        help="shell command that starts the app; it gets PORT, ATLASSIAN_CONNECT_BASE_URL and "
        "ATLASSIAN_CONNECT_INSTALL_KEYS_URL in its environment and must serve on 127.0.0.1:$PORT",
    )
    target.add_argument(
        "--app-url",
        help="the root URL of an app already running, instead of --app-command; it must fetch install keys from "
        f"fake_jira: ATLASSIAN_CONNECT_INSTALL_KEYS_URL=http://{DEFAULT_HOST}:{DEFAULT_PORT}/install-keys",
    )
    parser.add_argument(
        "--descriptor-path", default=DEFAULT_DESCRIPTOR_PATH, help="the app's descriptor (default: %(default)s)"
    )
    parser.add_argument(
        "--context-path",
        default=DEFAULT_CONTEXT_PATH,
        help="the app's API route for context tokens, relative to its baseUrl (default: %(default)s, this project's)",
    )
    parser.add_argument(
        "--fake-jira-port",
        type=int,
        help=f"fake_jira's port (default: a free one with --app-command, {DEFAULT_PORT} with --app-url)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=DEFAULT_STARTUP_SECONDS,
        help="seconds to wait for the app's descriptor (default: %(default)g)",
    )


def run(args: argparse.Namespace) -> int:
    """Play the Connect JWT story (three sites, installs, pages, rotation, forgeries) against an app."""
    out = sys.stdout
    color = out.isatty() and "NO_COLOR" not in os.environ
    default_port = 0 if args.app_command else DEFAULT_PORT
    port = default_port if args.fake_jira_port is None else args.fake_jira_port
    process: AppProcess | None = None
    print(INTRO, end="\n\n", flush=True)
    try:
        with _signals_stop_the_demo(), ThreadedServer(DEFAULT_HOST, port) as server:
            fake = server.fake
            print(f"Jira (fake_jira):  {server.url}  install keys at {fake.keys_url}/<kid>, sites under /sites/")
            if args.app_command:
                app_port = free_port()
                app_url = f"http://{DEFAULT_HOST}:{app_port}"
                env = {
                    **os.environ,
                    "PORT": str(app_port),
                    "ATLASSIAN_CONNECT_BASE_URL": app_url,
                    "ATLASSIAN_CONNECT_INSTALL_KEYS_URL": fake.keys_url,
                }
                print(f"The app:           {app_url}  $ {args.app_command}", flush=True)
                process = AppProcess(args.app_command, env)
                started = time.monotonic()
                process.wait_until_serving(app_url + args.descriptor_path, args.startup_timeout)
                print(f"                   answered its descriptor after {time.monotonic() - started:.1f} s")
            else:
                app_url = args.app_url.rstrip("/")
                print(f"The app:           {app_url}  (already running)")
            with requests.Session() as session:
                story = Story(
                    fake,
                    RequestsTransport(app_url, session=session),
                    descriptor_path=args.descriptor_path,
                    context_path=args.context_path,
                    out=out,
                    color=color,
                )
                passed = story.play()
            if not passed and process is not None:
                _print_output_tail(process)
            return 0 if passed else 1
    except AppDidNotStart as error:
        print(f"✗ {error}.", file=sys.stderr)
        if process is not None:
            process.stop()
            _print_output_tail(process, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if process is not None:
            process.stop()


def _print_output_tail(process: AppProcess, file: TextIO | None = None) -> None:
    lines = process.output_tail()
    print(f"\nThe app's last {len(lines)} lines of output ($ {process.command}):", file=file)
    for line in lines:
        print(f"  | {line}", file=file)
