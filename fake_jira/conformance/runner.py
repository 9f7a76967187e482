"""Running the check: set-up diagnostics, every case in order, the clean-up, the report.

The set-up comes first, because its problems are the user's, not the app's: an unreachable or non-JSON
descriptor, a baseUrl that answers nothing or serves another app, an app that never fetches its key from the
check's install-key service, a malformed ``--context-path`` or Forge option. Each raises ``CheckCannotStart``
with one line naming the fix (the command line exits 2 with it), instead of a hundred failed cases.

Jira sends every lifecycle callback, page load and webhook to the descriptor's ``baseUrl``, and so does the
check: the descriptor URL is only where the descriptor is fetched. ``connect_to`` rules move connections
elsewhere without changing a request (``transports.ConnectTo``); every report says when one was used. At the
end the check uninstalls the app from every site it created, as Jira would.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TextIO
from urllib.parse import urlsplit

import requests

from fake_jira.conformance import context, forge, installs, lifecycle, pages, webhooks
from fake_jira.conformance.core import (
    Case,
    CaseResult,
    Conformance,
    Group,
    Outcome,
    Report,
    SetupError,
    Skipped,
    WatchedFakeJira,
    page_module_key,
)
from fake_jira.conformance.forge import ForgeConformance, ForgeRemote, WatchedForgeJira
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import DescriptorError, DescriptorUnavailable, FakeJiraError
from fake_jira.server import DEFAULT_HOST, ThreadedServer
from fake_jira.transports import ConnectTo, RequestsTransport, origin

FORGE_APP_ID = re.compile(r"ari:cloud:ecosystem::app/[0-9a-fA-F-]{36}")


class CheckCannotStart(FakeJiraError):
    """A set-up problem: the message is one line that names the fix."""


GROUPS: tuple[Group, ...] = (
    Group("lifecycle", lifecycle.cases),
    Group("pages", pages.cases),
    Group(
        "webhooks",
        webhooks.cases,
        lambda c: (
            None
            if c.webhook_module
            else Skipped(
                "webhook cases: the descriptor subscribes to no webhook", "a webhooks module in the descriptor"
            )
        ),
    ),
    Group(
        "context",
        context.cases,
        lambda c: (
            None
            if c.context_path
            else Skipped(
                "context endpoint cases: no --context-path given",
                "--context-path PATH, the app's endpoint for AP.context.getToken() tokens",
            )
        ),
    ),
    Group("installs", installs.cases),
    Group("forge", forge.cases, forge.skip),
)


def build_cases(c: Conformance, groups: Sequence[Group] = GROUPS) -> list[Case | Skipped]:
    """Every case in the order it runs; Skipped notes stand where cases cannot run against this app."""
    cases: list[Case | Skipped] = []
    for group in groups:
        skipped = group.skip(c)
        cases += [skipped] if skipped is not None else group.cases(c.app)
    return cases


def normalise_path(option: str, path: str) -> str:
    """An endpoint's path option (``--context-path``, ``--forge-endpoint-path``, ...) as a path relative to
    baseUrl, a leading '/' added; CheckCannotStart for a URL or anything else that is not a path."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("//"):
        raise CheckCannotStart(
            f"{option} {path!r} is a URL: pass the endpoint's path relative to the descriptor's baseUrl, "
            "like /api/whoami"
        )
    if not path.strip() or any(char.isspace() for char in path) or parts.fragment:
        raise CheckCannotStart(
            f"{option} {path!r} is not a path: pass the endpoint's path relative to the descriptor's "
            "baseUrl, like /api/whoami"
        )
    return path if path.startswith("/") else f"/{path}"


def _normalise_forge(remote: ForgeRemote) -> ForgeRemote:
    if not FORGE_APP_ID.fullmatch(remote.app_id):
        raise CheckCannotStart(
            f"--forge-app-id {remote.app_id!r} is not a Forge app ARI: pass the app's ATLASSIAN_FORGE_APP_ID, "
            "ari:cloud:ecosystem::app/<uuid>"
        )
    return replace(
        remote,
        lifecycle_path=normalise_path("--forge-lifecycle-path", remote.lifecycle_path),
        endpoint_path=normalise_path("--forge-endpoint-path", remote.endpoint_path),
    )


# --- Set-up -----------------------------------------------------------------------------------------------


def _fetch(fake: WatchedFakeJira, descriptor_url: str, reach: Callable[[str], RequestsTransport]) -> ConnectApp:
    """The app, its descriptor fetched, reached at its baseUrl; CheckCannotStart when there is no descriptor."""
    parts = urlsplit(descriptor_url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        return fake.connect_app(reach(descriptor_url), target, reach=reach)
    except requests.RequestException as error:
        raise CheckCannotStart(
            f"nothing answers at {descriptor_url} ({type(error).__name__}): start the app first, and pass the URL "
            "it serves its descriptor at"
        ) from None
    except DescriptorUnavailable as error:
        raise CheckCannotStart(
            f"{descriptor_url} serves no descriptor ({'; '.join(error.problems)}): pass the URL of the app's "
            "atlassian-connect.json"
        ) from None


def _check_base_url(app: ConnectApp, descriptor_url: str) -> None:
    """The descriptor's baseUrl must reach this app: Jira sends everything there."""
    parts = urlsplit(descriptor_url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    fix = (
        "set the app's baseUrl to the URL it is reached at, or pass --connect-to HOST:PORT:HOST2:PORT2 to reach "
        "it elsewhere"
    )
    try:
        response = app.transport.send("GET", target, headers={"Accept": "application/json"})
    except requests.RequestException as error:
        raise CheckCannotStart(
            f"the descriptor's baseUrl {app.base_url} answers nothing ({type(error).__name__}), and Jira sends "
            f"every request there: {fix}"
        ) from None
    try:
        served = response.json()
    except ValueError:
        return
    if not isinstance(served, dict) or "key" not in served:
        return
    if served.get("key") != app.key or str(served.get("baseUrl", "")).rstrip("/") != app.base_url:
        raise CheckCannotStart(
            f"the descriptor's baseUrl {app.base_url} serves another descriptor (key {served.get('key')!r}, baseUrl "
            f"{served.get('baseUrl')!r}), and Jira sends every request there: {fix}"
        )


def _check_key_service(c: Conformance) -> None:
    """A genuine install refused as unauthenticated (401) or for want of a key service (5xx) without a
    single key fetch: the app is not configured with the check's install-key service. Any other answer is the
    app's own, and the cases judge it."""
    before = len(c.key_fetches())
    site = c.fake.add_site(c.site_name("setup"))
    response = site.install(c.app)
    if (response.status == 401 or response.status >= 500) and len(c.key_fetches()) == before:
        keys_url = c.fake.keys_url
        raise CheckCannotStart(
            f"the app did not fetch its key from {keys_url}: "
            f"start it with ATLASSIAN_CONNECT_INSTALL_KEYS_URL={keys_url} "
            "(atlassian-connect-express reads CONNECT_KEYS_CDN_URL)"
        )


def _descriptor_case(app: ConnectApp) -> tuple[str | None, CaseResult]:
    """The descriptor case: installable by Jira, with a page module to observe tenants through."""
    page_key = page_module_key(app)
    if page_key is None:
        how_to_fix = "declare a generalPages or adminPages module: the check loads it to see each tenant's state"
        return None, CaseResult(False, "a page module", "none", how_to_fix)
    return page_key, CaseResult(True, "200, installable", "200")


# --- Running ----------------------------------------------------------------------------------------------


def _run_case(c: Conformance, case: Case) -> CaseResult:
    leaks = len(c.watch.leaks)
    try:
        result = case.run(c)
    except SetupError as error:
        return CaseResult(False, "a genuine install to start from", str(error), "make the 'install' case pass first")
    except requests.RequestException as error:
        how_to_fix = "answer every request, whatever it holds: look at the app's log"
        return CaseResult(False, "an HTTP answer", f"no answer ({type(error).__name__})", how_to_fix)
    if len(c.watch.leaks) > leaks:
        return CaseResult(
            False,
            "no sharedSecret in any response",
            f"a tenant's sharedSecret in the response to {c.watch.leaks[leaks]}",
            "never put a stored tenant, or a request body that held its secret, into a response (error pages too)",
        )
    return result


def _clean_up(fake: WatchedFakeJira, app: ConnectApp) -> str:
    """Uninstall the app from every site the check created, as Jira would; what it did, in one line."""
    uninstalled = unanswered = 0
    for site in fake.sites:
        installation = site.state.installation(app.key)
        if installation is None or not installation.installed:
            continue
        try:
            site.uninstall(app)
            uninstalled += 1
        except requests.RequestException:
            unanswered += 1
    line = f"clean-up: uninstalled the app from the {uninstalled} site{'s' * (uninstalled != 1)} the check installed"
    return line + (f" ({unanswered} did not answer)" if unanswered else "")


def run_conformance(
    descriptor_url: str,
    *,
    keys_port: int = 0,
    context_path: str | None = None,
    strict: bool = False,
    connect_to: Sequence[ConnectTo] = (),
    forge: ForgeRemote | None = None,
    out: TextIO | None = None,
) -> Report:
    """Put the app whose descriptor is at ``descriptor_url`` through every case, printing one line per case,
    then the skipped groups, the remarks, the warnings and hardening notes, and ``N passed, M failed`` last
    (to ``out``, standard output by default). ``strict`` counts warnings as failures.

    The app must fetch install keys from ``http://127.0.0.1:<keys_port>/install-keys``, printed first.
    ``context_path`` (relative to the descriptor's baseUrl) is the endpoint AP.context.getToken() tokens call.
    ``connect_to`` moves connections elsewhere without changing requests (curl's --connect-to). ``forge``
    enables the Forge cases: the check then also serves Forge's JWKS (printed second), which the app must
    fetch its Forge keys from.
    Raises CheckCannotStart (a FakeJiraError) when the set-up is wrong: the message names the fix.
    """
    out = out or sys.stdout
    parts = urlsplit(descriptor_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CheckCannotStart(f"{descriptor_url!r} is not the absolute http(s) URL of the app's descriptor")
    context_path = None if context_path is None else normalise_path("--context-path", context_path)
    forge = None if forge is None else _normalise_forge(forge)
    server = ThreadedServer(DEFAULT_HOST, keys_port)
    try:
        server.start()
    except OSError as error:
        raise CheckCannotStart(
            f"cannot serve the install-key service on {DEFAULT_HOST}:{keys_port} ({error.strerror or error}): "
            "pick another --keys-port, and start the app with that port in its install-keys URL"
        ) from None
    # Swapped in before the app is told anything, so no request can reach the server's first FakeJira.
    fake = server.server.fake = (
        WatchedFakeJira(server.fake.urls) if forge is None else WatchedForgeJira(server.fake.urls)
    )
    report = Report()
    if connect_to:
        report.remarks.append(f"connect-to: {', '.join(map(str, connect_to))} (connections moved, requests unchanged)")

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    session = requests.Session()
    # Proxy settings from the environment would carry the app's traffic through another host.
    session.trust_env = False

    def reach(url: str) -> RequestsTransport:
        return RequestsTransport(origin(url), session=session, connect_to=connect_to)

    app: ConnectApp | None = None
    try:
        say(f"install-key service: {fake.keys_url}")
        if isinstance(fake, WatchedForgeJira):
            say(f"forge jwks: {fake.forge.jwks_url}")
        for remark in report.remarks:
            say(remark)
        try:
            app = _fetch(fake, descriptor_url, reach)
        except DescriptorError as error:
            result = CaseResult(False, "a descriptor Jira installs", "; ".join(error.problems), "fix each problem")
            page_key = None
        else:
            _check_base_url(app, descriptor_url)
            page_key, result = _descriptor_case(app)
        report.outcomes.append(Outcome("descriptor", "served, and Jira would install it", result, strict=strict))
        say(report.outcomes[-1].line())
        if app is not None and page_key is not None:
            c: Conformance
            if forge is not None and isinstance(fake, WatchedForgeJira):
                c = ForgeConformance(fake, app, page_key, context_path=context_path, remote=forge)
            else:
                c = Conformance(fake, app, page_key, context_path=context_path)
            _check_key_service(c)
            for item in build_cases(c):
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                outcome = Outcome(item.name, item.checks, _run_case(c, item), strict=strict)
                report.outcomes.append(outcome)
                say(outcome.line())
                if not outcome.result.passed:
                    c.forget_tenants()
    finally:
        if app is not None:
            report.remarks.append(_clean_up(fake, app))
        server.stop()
        session.close()
    for skipped in report.skipped:
        say(skipped.line())
    for remark in report.remarks:
        say(remark)
    say(report.notes())
    say(report.summary())
    return report
