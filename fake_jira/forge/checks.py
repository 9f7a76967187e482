"""The Forge checks: put a running Connect-on-Forge app's Forge Remote through Forge's contract over HTTP.

Like the Connect conformance check, ``run_forge_checks`` serves a ``ForgeJira`` on a loopback port. The app
under test must take its install keys and its Forge keys from that server (both URLs are printed first) and
have ``app_id`` as its Forge app ARI. Genuine cases install the app as Forge does and call its endpoints;
hostile cases send forged Forge Invocation Tokens, each of which must be refused with 401, and then show that
the victim installation still works with a genuine token.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import SplitResult, urlsplit

import requests

from fake_jira.conformance import CaseResult, Outcome, Report
from fake_jira.exceptions import DescriptorError, FakeJiraError
from fake_jira.forge.platform import INSTALLED, ForgeApp, ForgeInstallation, ForgeJira
from fake_jira.forge.tokens import FitForgery
from fake_jira.messages import Response
from fake_jira.server import DEFAULT_HOST, ThreadedServer
from fake_jira.transports import RequestsTransport

_VERIFY_FIX = (
    "verify every FIT: RS256 only, a kid from the configured JWKS, aud exactly the app's ARI, "
    "iss exactly forge/invocation-token, exp/nbf/jti required"
)
_FIXES = {
    FitForgery.WRONG_AUD: "compare aud with the configured app ARI, exactly",
    FitForgery.WRONG_ISS: "require iss 'forge/invocation-token', exactly",
    FitForgery.EXPIRED: "check exp, with a small leeway",
    FitForgery.NOT_YET_VALID: "check nbf (and iat), with a small leeway",
    FitForgery.UNKNOWN_KID: "refuse a kid the configured JWKS does not list, even after a refresh",
    FitForgery.HS256: "pin the algorithm to RS256 before choosing a key",
    FitForgery.ALG_NONE: "pin the algorithm to RS256 before choosing a key",
    FitForgery.OTHER_JWKS_KEY: "verify the signature with the key the configured JWKS publishes for the kid",
    FitForgery.HOSTILE_IC_LABEL: "validate icLabel against ^[a-z0-9_-]{1,50}$ before it goes near a URL",
    FitForgery.MISSING_JTI: "require jti, and accept each jti once",
}


class SetupError(Exception):
    """A case could not get the state it starts from (a genuine Forge install was refused)."""


class ForgeCheck:
    """What a Forge case works with: the platform, the app as Forge knows it, and a victim installation."""

    def __init__(self, fake: ForgeJira, app: ForgeApp, data_path: str) -> None:
        self.fake = fake
        self.app = app
        self.data_path = data_path
        self._sites = 0
        self._victim: ForgeInstallation | None = None

    def new_installation(self, role: str) -> ForgeInstallation:
        self._sites += 1
        site = self.fake.add_site(f"forge-{role}-{self._sites}")
        installation = self.fake.forge.install(site, self.app)
        statuses = [response.status for response in installation.sent]
        if not installation.sent or not all(response.ok for response in installation.sent):
            raise SetupError(f"the genuine Forge install of site {site.name!r} got {statuses}")
        return installation

    @property
    def victim(self) -> ForgeInstallation:
        if self._victim is None:
            self._victim = self.new_installation("victim")
        return self._victim

    def forget_victim(self) -> None:
        self._victim = None

    def call(self, installation: ForgeInstallation, token: str | None = None) -> Response:
        """The Custom UI page's call for its data, as a user's invokeRemote reaches the remote."""
        site = installation.site
        return self.fake.forge.invoke(installation, "GET", self.data_path, user=site.admin, token=token)

    def refused(self, response: Response, how_to_fix: str) -> CaseResult:
        if response.status != 401:
            return CaseResult(False, "401", str(response.status), how_to_fix)
        genuine = self.call(self.victim)
        if genuine.status != 200:
            return CaseResult(False, "401, the victim unchanged", f"401, but a genuine call then got {genuine.status}")
        return CaseResult(True, "401, the victim unchanged", "401")


@dataclass(frozen=True)
class ForgeCase:
    name: str
    checks: str
    run: Callable[[ForgeCheck], CaseResult]


def _install(c: ForgeCheck) -> CaseResult:
    installation = c.new_installation("install")
    got = ", ".join(str(response.status) for response in installation.sent)
    return CaseResult(True, "Connect install 2xx, then the installed trigger 2xx", got)


def _retried_trigger(c: ForgeCheck) -> CaseResult:
    sent = c.fake.forge.fire(c.victim, INSTALLED, deliveries=5)
    got = ", ".join(str(response.status) for response in sent)
    passed = len(sent) == 5 and all(response.ok for response in sent)
    return CaseResult(passed, "2xx for each of 5 deliveries", got, "answer every retry of a trigger with 2xx")


def _upgrade(c: ForgeCheck) -> CaseResult:
    sent = c.fake.forge.upgrade(c.victim, "2.0.0")
    got = ", ".join(str(response.status) for response in sent)
    return CaseResult(bool(sent) and sent[0].ok, "2xx at the first delivery", got, "accept avi:forge:upgraded:app")


def _page_data(c: ForgeCheck) -> CaseResult:
    response = c.call(c.victim)
    return CaseResult(response.status == 200, "200", str(response.status), "accept a genuine FIT on the UI endpoint")


def _rotated_key(c: ForgeCheck) -> CaseResult:
    c.fake.forge.keys.rotate()  # the new key was published before it signs: the app's cached set has it
    response = c.call(c.victim)
    fix = "look keys up by kid in the JWKS, and refetch it (rate-bounded) on an unknown kid"
    return CaseResult(response.status == 200, "200 after a key rotation", str(response.status), fix)


def _forged(forgery: FitForgery) -> Callable[[ForgeCheck], CaseResult]:
    def run(c: ForgeCheck) -> CaseResult:
        token = c.fake.forge.mint(c.victim, user=c.victim.site.admin, forgery=forgery)
        return c.refused(c.call(c.victim, token), _FIXES.get(forgery, _VERIFY_FIX))

    return run


def _replayed(c: ForgeCheck) -> CaseResult:
    token = c.fake.forge.mint(c.victim, user=c.victim.site.admin)
    first = c.call(c.victim, token)
    if first.status != 200:
        return CaseResult(False, "200, then 401", f"{first.status} for the genuine first use", _VERIFY_FIX)
    return c.refused(c.call(c.victim, token), "remember each jti until its token expires, and refuse it again")


def _no_token(c: ForgeCheck) -> CaseResult:
    response = c.app.transport.send("GET", c.data_path, headers={})
    return c.refused(response, "require a FIT on every Forge Remote endpoint")


def build_cases() -> list[ForgeCase]:
    """Every Forge case, in the order it runs."""
    return [
        ForgeCase("forge install", "the Connect install names the installation; the trigger is accepted", _install),
        ForgeCase("forge trigger retried", "a trigger delivered 5 times is accepted each time", _retried_trigger),
        ForgeCase("forge upgrade", "avi:forge:upgraded:app is accepted", _upgrade),
        ForgeCase("forge page data", "a genuine FIT from a user's UI call is accepted", _page_data),
        ForgeCase("forge key rotation", "a FIT signed with a newly rotated key is accepted", _rotated_key),
        ForgeCase("hostile forge no token", "refused: no FIT", _no_token),
        *(ForgeCase(f"hostile forge {f.name.lower()}", f"refused: {f.value}", _forged(f)) for f in FitForgery),
        ForgeCase("hostile forge replayed jti", "refused: a genuine FIT used a second time", _replayed),
    ]


def _run_case(c: ForgeCheck, case: ForgeCase) -> CaseResult:
    try:
        return case.run(c)
    except SetupError as error:
        return CaseResult(False, "a genuine install to start from", str(error), "make 'forge install' pass first")
    except requests.RequestException as error:
        how_to_fix = "answer every request, whatever it holds: look at the app's log"
        return CaseResult(False, "an HTTP answer", f"no answer ({type(error).__name__})", how_to_fix)


def _run_cases(
    fake: ForgeJira,
    transport: RequestsTransport,
    parts: SplitResult,
    *,
    app_id: str,
    lifecycle_path: str,
    data_path: str,
    report: Report,
    out: TextIO,
) -> None:
    def record(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        print(outcome.line(), file=out, flush=True)

    try:
        connect = fake.connect_app(transport, parts.path + (f"?{parts.query}" if parts.query else ""))
    except (DescriptorError, requests.RequestException) as error:
        result = CaseResult(False, "a descriptor Jira installs", str(error), "serve the Connect descriptor first")
        record(Outcome("forge descriptor", "served", result))
        return
    c = ForgeCheck(fake, ForgeApp(app_id, connect, lifecycle_path), data_path)
    for case in build_cases():
        outcome = Outcome(case.name, case.checks, _run_case(c, case))
        record(outcome)
        if not outcome.result.passed:
            c.forget_victim()


def run_forge_checks(
    descriptor_url: str,
    *,
    app_id: str,
    port: int = 0,
    lifecycle_path: str = "/jira/forge/lifecycle",
    data_path: str = "/jira/forge/api/projects",
    out: TextIO | None = None,
) -> Report:
    """Put the app whose Connect descriptor is at ``descriptor_url`` through every Forge case over HTTP.

    The app must take its Forge keys from ``<server>/forge/.well-known/jwks.json`` and its install keys from
    ``<server>/install-keys`` (both printed first), and have ``app_id`` as ATLASSIAN_FORGE_APP_ID. Paths are
    relative to the descriptor URL's origin. Raises FakeJiraError when the check cannot start.
    """
    out = out or sys.stdout
    parts = urlsplit(descriptor_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FakeJiraError(f"{descriptor_url!r} is not the absolute http(s) URL of the app's descriptor")
    server = ThreadedServer(DEFAULT_HOST, port)
    try:
        server.start()
    except OSError as error:
        raise FakeJiraError(f"cannot serve Forge on {DEFAULT_HOST}:{port}: {error}") from None
    # Swapped in before the app is told anything, as the Connect check swaps in its own FakeJira.
    fake = server.server.fake = ForgeJira(server.fake.urls)
    report = Report()
    try:
        print(f"forge jwks: {fake.forge.jwks_url}\ninstall-key service: {fake.keys_url}", file=out, flush=True)
        # Closed at the end: a kept-alive connection would hold one of the app server's threads past the check.
        with requests.Session() as session:
            session.trust_env = False
            transport = RequestsTransport(f"{parts.scheme}://{parts.netloc}", session=session)
            _run_cases(fake, transport, parts, app_id=app_id, lifecycle_path=lifecycle_path, data_path=data_path,
                       report=report, out=out)  # fmt: skip
    finally:
        server.stop()
        print(report.summary(), file=out, flush=True)
    return report
