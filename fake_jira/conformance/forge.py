"""Forge Remote: a Connect-on-Forge app's remote endpoints under Forge's contract (docs/forge.md).

No Connect descriptor names the Forge app, so these cases run only when the user gives its ARI
(``--forge-app-id``). The check then serves a ``ForgeJira``: the app must take its Forge keys from the check's
JWKS (``ATLASSIAN_FORGE_JWKS_URL``, printed first) and have the same ARI as ATLASSIAN_FORGE_APP_ID. Genuine
cases install the app as Forge does and call its endpoints; hostile cases send forged Forge Invocation Tokens
(FITs), each of which must be refused, and then show that the victim installation still works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fake_jira.conformance.core import (
    REFUSED,
    Case,
    CaseResult,
    Conformance,
    SetupError,
    Skipped,
    WatchedFakeJira,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.forge.platform import INSTALLED, ForgeApp, ForgeInstallation, ForgeJira
from fake_jira.forge.tokens import FitForgery
from fake_jira.messages import Response

# This project's remote endpoints (forge/manifest.yml), relative to the remote's baseUrl; another app names its own.
DEFAULT_LIFECYCLE_PATH = "/jira/forge/lifecycle"
DEFAULT_ENDPOINT_PATH = "/jira/forge/api/projects"

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


@dataclass(frozen=True)
class ForgeRemote:
    """What the Forge cases need that no Connect descriptor says: the app's ARI and its remote endpoints'
    paths, relative to the remote's baseUrl (the descriptor's baseUrl)."""

    app_id: str
    lifecycle_path: str = DEFAULT_LIFECYCLE_PATH
    endpoint_path: str = DEFAULT_ENDPOINT_PATH


class WatchedForgeJira(WatchedFakeJira, ForgeJira):
    """The check's server when Forge cases run: it also serves Forge's JWKS and API gateway."""


class ForgeConformance(Conformance):
    """A Conformance that also plays Forge for ``remote``: a victim Forge installation hostile cases aim at,
    forgotten with the Connect tenants after a failed case."""

    def __init__(
        self,
        fake: WatchedForgeJira,
        app: ConnectApp,
        page_key: str,
        *,
        context_path: str | None,
        remote: ForgeRemote,
    ) -> None:
        super().__init__(fake, app, page_key, context_path=context_path)
        self.platform = fake.forge
        # Built on the watched app: a secret in a Forge answer is a leak too.
        self.forge_app = ForgeApp(remote.app_id, self.app, self.app.target(remote.lifecycle_path))
        self.endpoint = self.app.target(remote.endpoint_path)
        self._forge_victim: ForgeInstallation | None = None

    def install(self, role: str) -> ForgeInstallation:
        """A fresh site, the app installed on it through Forge; ``sent`` holds what the app answered."""
        return self.platform.install(self.fake.add_site(self.site_name(f"forge-{role}")), self.forge_app)

    def new_installation(self, role: str) -> ForgeInstallation:
        """A fresh site with the app installed through Forge; SetupError when the app refuses either step."""
        installation = self.install(role)
        site = installation.site
        if not all(response.ok for response in installation.sent):
            statuses = ", ".join(str(response.status) for response in installation.sent)
            raise SetupError(f"the genuine Forge install of site {site.name!r} got {statuses}")
        return installation

    @property
    def forge_victim(self) -> ForgeInstallation:
        if self._forge_victim is None:
            self._forge_victim = self.new_installation("victim")
        return self._forge_victim

    def forget_tenants(self) -> None:
        super().forget_tenants()
        self._forge_victim = None

    def call(self, installation: ForgeInstallation, token: str | None = None) -> Response:
        """The Custom UI page's call for its data, as a user's invokeRemote reaches the remote."""
        site = installation.site
        return self.platform.invoke(installation, "GET", self.endpoint, user=site.admin, token=token)

    def forge_victim_problem(self) -> str | None:
        genuine = self.call(self.forge_victim)
        return None if genuine.status == 200 else f"a genuine FIT for the victim then got {genuine.status}"

    def refused_fit(self, response: Response, how_to_fix: str) -> CaseResult:
        return self.refused(response, REFUSED, how_to_fix, victim_problem=self.forge_victim_problem)


def _forge(c: Conformance) -> ForgeConformance:
    assert isinstance(c, ForgeConformance)  # guaranteed by skip()
    return c


def skip(c: Conformance) -> Skipped | None:
    if isinstance(c, ForgeConformance):
        return None
    return Skipped(
        "Forge cases: no --forge-app-id given",
        "--forge-app-id ARI, the app's ATLASSIAN_FORGE_APP_ID, with ATLASSIAN_FORGE_JWKS_URL set to the check's JWKS",
    )


def _configured_fix(c: ForgeConformance, what: str) -> str:
    return (
        f"{what}; start the app with ATLASSIAN_FORGE_APP_ID={c.forge_app.app_id} and "
        f"ATLASSIAN_FORGE_JWKS_URL={c.platform.jwks_url}"
    )


def _statuses(sent: list[Response]) -> str:
    return ", ".join(str(response.status) for response in sent)


def _install(c: Conformance) -> CaseResult:
    f = _forge(c)
    sent = f.install("install").sent
    fix = _configured_fix(f, "accept the Connect install that names its installationId, then the installed trigger")
    passed = len(sent) == 2 and all(response.ok for response in sent)
    return CaseResult(passed, "Connect install 2xx, then the installed trigger 2xx", _statuses(sent), fix)


def _retried_trigger(c: Conformance) -> CaseResult:
    f = _forge(c)
    sent = f.platform.fire(f.forge_victim, INSTALLED, deliveries=5)
    passed = len(sent) == 5 and all(response.ok for response in sent)
    return CaseResult(
        passed, "2xx for each of 5 deliveries", _statuses(sent), "answer every retry of a trigger with 2xx"
    )


def _upgrade(c: Conformance) -> CaseResult:
    f = _forge(c)
    sent = f.platform.upgrade(f.forge_victim, "2.0.0")
    return CaseResult(
        bool(sent) and sent[0].ok, "2xx at the first delivery", _statuses(sent), "accept avi:forge:upgraded:app"
    )


def _endpoint_data(c: Conformance) -> CaseResult:
    f = _forge(c)
    response = f.call(f.forge_victim)
    fix = _configured_fix(f, "accept a genuine FIT on the UI endpoint")
    return CaseResult(response.status == 200, "200", str(response.status), fix)


def _rotated_key(c: Conformance) -> CaseResult:
    f = _forge(c)
    f.platform.keys.rotate()  # the new key was published before it signs: the app's cached set has it
    response = f.call(f.forge_victim)
    fix = "look keys up by kid in the JWKS, and refetch it (rate-bounded) on an unknown kid"
    return CaseResult(response.status == 200, "200 after a key rotation", str(response.status), fix)


def _forged(forgery: FitForgery) -> Callable[[Conformance], CaseResult]:
    def run(c: Conformance) -> CaseResult:
        f = _forge(c)
        victim = f.forge_victim
        token = f.platform.mint(victim, user=victim.site.admin, forgery=forgery)
        return f.refused_fit(f.call(victim, token), _FIXES.get(forgery, _VERIFY_FIX))

    return run


def _replayed(c: Conformance) -> CaseResult:
    f = _forge(c)
    victim = f.forge_victim
    token = f.platform.mint(victim, user=victim.site.admin)
    first = f.call(victim, token)
    if first.status != 200:
        return CaseResult(False, "200, then 401", f"{first.status} for the genuine first use", _VERIFY_FIX)
    return f.refused_fit(f.call(victim, token), "remember each jti until its token expires, and refuse it again")


def _no_token(c: Conformance) -> CaseResult:
    f = _forge(c)
    return f.refused_fit(f.send("GET", f.endpoint), "require a FIT on every Forge Remote endpoint")


def cases(app: ConnectApp) -> list[Case | Skipped]:
    return [
        Case("forge install", "the Connect install names the installation; the trigger is accepted", _install),
        Case("forge trigger retried", "a trigger delivered 5 times is accepted each time", _retried_trigger),
        Case("forge upgrade", "avi:forge:upgraded:app is accepted", _upgrade),
        Case("forge page data", "a genuine FIT from a user's UI call is accepted", _endpoint_data),
        Case("forge key rotation", "a FIT signed with a newly rotated key is accepted", _rotated_key),
        Case("hostile forge no token", "refused: no FIT", _no_token),
        *(Case(f"hostile forge {f.name.lower()}", f"refused: {f.value}", _forged(f)) for f in FitForgery),
        Case("hostile forge replayed jti", "refused: a genuine FIT used a second time", _replayed),
    ]
