"""The story's machinery: one step is one request, judged and printed; the chapters (fake_jira.demo.chapters)
are written with the steps defined here."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import requests

from fake_jira.demo import chapters
from fake_jira.demo.output import EXPLAIN_INDENT, STEP_INDENT, Style, keep_together, wrap
from fake_jira.demo.pages import judge_page, read_page, reason
from fake_jira.demo.verdicts import Judge, StoryOver, refused
from fake_jira.demo.wire import Recorder, Sent, describe_request, explain, fingerprint_of, install_body
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import FakeJiraError
from fake_jira.forge import ForgeJira
from fake_jira.messages import Response
from fake_jira.models import Event
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery
from fake_jira.transports import AppTransport

DEFAULT_DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
# This project's endpoint for context tokens (jira_app's whoami); another app names its own.
DEFAULT_CONTEXT_PATH = "/jira/api/whoami"
HOW_IT_WORKS = "docs/protocol.md, from README.md"

# Each tenant holds its own projects, so a page that shows another tenant's data cannot pass.
SITES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "acme": (("ACME", "Acme Rockets"), ("OPS", "Operations"), ("WEB", "Website")),
    "globex": (("GLX", "Globex Core"), ("HR", "Human Resources")),
    "initech": (("TPS", "TPS Reports"),),
}

# Reads back what the app stored of its webhook deliveries: JSON-like records (see fake_jira.demo.readback).
StoredWebhooks = Callable[[], Any]


class Story:
    """Three sites meet the app: installs, pages, a context token, a webhook, a rotation, disable and enable,
    a forged install, an uninstall; then, with a Forge app ARI, two more sites meet it through Forge. Each
    step prints a line (wrapped at 100 columns); ``play`` says whether all came out right.

    ``fake`` may serve in process (with the ``responses`` router) or over HTTP; ``transport`` reaches the app.
    With ``explain``, each step also shows its token decoded, the canonical request and its hash.
    ``stored_webhooks`` lets the webhook chapter read back what the app stored (fake_jira.demo.readback).
    ``forge_app_id`` (the app's ATLASSIAN_FORGE_APP_ID) plays the Forge chapter, with a ``ForgeJira`` as ``fake``.
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
        explain: bool = False,
        stored_webhooks: StoredWebhooks | None = None,
        forge_app_id: str | None = None,
    ) -> None:
        self.fake = fake
        self.descriptor_path = descriptor_path
        self.context_path = context_path
        self.out = out or sys.stdout
        self.style = Style(color)
        self.explain = explain
        self.stored_webhooks = stored_webhooks
        self.forge_app_id = forge_app_id
        self.passed = 0
        self.failed = 0
        self.wire = Recorder(transport)
        # Read from the descriptor by the first chapter.
        self.page_key: str | None = None
        self.webhook_event: str | None = None

    def play(self) -> bool:
        """Play every chapter in order; True when every step came out as a correct Connect app's would."""
        started = time.perf_counter()
        try:
            app = chapters.descriptor.play(self)
            if app is not None:
                sites = [self.new_site(name, projects) for name, projects in SITES.items()]
                for chapter in chapters.AFTER_THE_DESCRIPTOR:
                    chapter.play(self, app, sites)
        except StoryOver:
            self.print(self.style.bad("The app stopped answering: the story ends here."))
        self._summary(time.perf_counter() - started)
        return self.failed == 0

    # --- Output ---

    def print(self, text: str = "") -> None:
        for line in wrap(text, "  ") if text else [""]:
            print(line, file=self.out, flush=True)

    def chapter(self, title: str, why: str) -> None:
        self.print()
        lines = wrap(f"{title}  {why}", "  ")
        # Title in bold, the rest dimmed; the title always fits the first line.
        first = self.style.bold(title) + self.style.dim(lines[0][len(title) :])
        for line in [first, *(self.style.dim(rest) for rest in lines[1:])]:
            print(line, file=self.out, flush=True)

    def note(self, text: str) -> None:
        for line in wrap(f"({text})", "   ", first_indent="  "):
            print(self.style.dim(line), file=self.out, flush=True)

    def line(self, ok: bool, who: str, sent: str, status: int | None, said: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        answer = keep_together("→ " + ("no answer" if status is None else str(status)) + ":")
        lines = wrap(f"{who:<8} {sent}  {answer} {said}", STEP_INDENT, first_indent="✓ ")
        mark = self.style.good("✓") if ok else self.style.bad("✗")
        painted = False
        for number, line in enumerate(lines):
            if number == 0:
                line = mark + line[1:]
            plain = answer.replace("\u00a0", " ")
            if not painted and plain in line:
                line = line.replace(plain, self.style.bold(plain), 1)
                painted = True
            print(line, file=self.out, flush=True)

    def _explain(self, app: ConnectApp, sent: Sent) -> None:
        secrets: dict[str, str] = {}
        for site in self.fake.sites:
            for installation in site.state.installations.values():
                current = installation.shared_secret
                secrets.setdefault(current, f"{site.name}'s sharedSecret {fingerprint_of(current)}")
                for old in installation.previous_secrets:
                    secrets.setdefault(old, f"{site.name}'s replaced sharedSecret {fingerprint_of(old)}")
        named = {name: secret for secret, name in secrets.items()}
        jwks_url = self.fake.forge.jwks_url if isinstance(self.fake, ForgeJira) else None
        for label, text in explain(app, sent, named, self.fake.keys_url, jwks_url):
            for line in wrap(text, EXPLAIN_INDENT, first_indent=f"  {label:<10} "):
                print(self.style.dim(line), file=self.out, flush=True)

    def _summary(self, seconds: float) -> None:
        """One line of counts (and what they mean), one line saying where to read on; each within WIDTH."""
        total = self.passed + self.failed
        counts = f"{total} steps: {self.passed} ✓, {self.failed} ✗ in {seconds:.1f} s"
        self.print()
        if self.failed:
            print(self.style.bad(counts + ".") + " Each ✗ says what a correct app answers.", file=self.out)
        else:
            print(
                self.style.good(counts) + ": signatures checked, tenants found by iss, forgeries refused.",
                file=self.out,
            )
        hint = "" if self.explain else " --explain shows each token and its qsh."
        print(f"How it works: {HOW_IT_WORKS}.{hint}", file=self.out, flush=True)

    # --- One step ---

    def step(
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
        self.wire.take()
        try:
            response = send()
        except FakeJiraError as error:
            self.line(False, who, "(not sent)", None, str(error))
            return
        except requests.RequestException as error:
            sent = self.wire.take()
            shown = describe_request(app, sent, note) if sent else "(sent)"
            self.line(False, who, shown, None, f"the app did not answer ({type(error).__name__})")
            raise StoryOver from error
        sent = self.wire.take()
        if response is None or sent is None:
            # enable()/disable() send nothing when the descriptor declares no such callback.
            return
        ok, said = judge(response, self.fake.events[mark:], sent)
        shown = describe_request(app, sent, note) + (f" {extra(sent)}" if extra else "")
        self.line(ok, who, shown, response.status, said)
        if self.explain:
            self._explain(app, sent)

    # --- Steps the chapters share ---

    def new_site(self, name: str, projects: tuple[tuple[str, str], ...]) -> JiraSite:
        site = self.fake.add_site(name)
        for key, project_name in projects:
            site.add_project(key, project_name)
        return site

    def install(self, app: ConnectApp, site: JiraSite, *, what: str, rotated_from: str | None = None) -> None:
        def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
            if not response.ok:
                return False, f"refused ({reason(response)}); a correct app accepts a genuine install"
            fetched = any(e.action == "install key" for e in events)
            key = f"fetched from {self.fake.keys_url}/<kid>" if fetched else "cached by its kid"
            return True, f"{what}: signature verified with Atlassian's public key ({key})"

        self.step(app, site.name, lambda: site.install(app), judge, extra=install_body(rotated_from))

    def page(self, app: ConnectApp, site: JiraSite, *, lead: str = "", forgery: Forgery | None = None) -> None:
        def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
            if response.status != 200:
                return False, f"a correct app shows the page ({reason(response)})"
            ok, said = judge_page(site, read_page(response.text), events)
            return ok, lead + said

        assert self.page_key is not None  # the descriptor chapter ends the story without one
        key = self.page_key
        self.step(app, site.name, lambda: site.load_page(app, key, forgery=forgery), judge)

    def page_refused(self, app: ConnectApp, site: JiraSite, forgery: Forgery | None, why: str, note: str) -> None:
        assert self.page_key is not None
        key = self.page_key
        self.step(app, site.name, lambda: site.load_page(app, key, forgery=forgery), refused(why), note=note)
