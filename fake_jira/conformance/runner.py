"""Running the check: serve the install-key service, fetch the descriptor, run every case, report."""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import urlsplit

import requests

from fake_jira.conformance import context, installs, lifecycle, pages, webhooks
from fake_jira.conformance.core import (
    Case,
    CaseResult,
    Conformance,
    Outcome,
    Report,
    SetupError,
    Skipped,
    WatchedFakeJira,
    page_module_key,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.server import DEFAULT_HOST, ThreadedServer
from fake_jira.transports import RequestsTransport


def build_cases(app: ConnectApp, *, has_webhook: bool, context_path: str | None) -> list[Case | Skipped]:
    """Every case in the order it runs; Skipped notes stand where cases cannot run against this app."""
    cases = [*lifecycle.cases(app), *pages.cases(app)]
    cases += webhooks.cases(app) if has_webhook else [Skipped("webhook cases: the descriptor subscribes to no webhook")]
    cases += context.cases(app) if context_path else [Skipped("context endpoint cases: no --context-path given")]
    return [*cases, *installs.cases(app)]


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
    page_key = page_module_key(app)
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
    descriptor_url: str,
    *,
    keys_port: int = 0,
    context_path: str | None = None,
    strict: bool = False,
    out: TextIO | None = None,
) -> Report:
    """Put the app whose descriptor is at ``descriptor_url`` through every case, printing one line per case,
    then the warnings and hardening notes, and ``N passed, M failed`` last (to ``out``, standard output by
    default). ``strict`` counts warnings as failures.

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
                outcome = Outcome(item.name, item.checks, _run_case(c, item), strict=strict)
                record(outcome)
                if not outcome.result.passed:
                    c.forget_tenants()
    finally:
        server.stop()
    print(report.notes(), file=out, flush=True)
    print(report.summary(), file=out, flush=True)
    return report
