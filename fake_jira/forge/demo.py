"""The demo's Forge chapter: the same app as a Connect-on-Forge app with a Forge Remote, one line per step.

``play_forge_chapter`` needs a ``ForgeJira`` (in process or served) and the app's Connect descriptor as
``connect_app`` returned it; the app must run with ``forge_app_env(fake)`` in its environment.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import FakeJiraError
from fake_jira.forge.platform import INSTALLED, ForgeApp, ForgeInstallation, ForgeJira, ForgePlatform
from fake_jira.forge.tokens import FitForgery
from fake_jira.messages import Response

# The demo's Forge app: what `forge register` would have written into the manifest's app.id.
DEMO_APP_ID = "ari:cloud:ecosystem::app/3f0c2b9e-5d1a-4c6b-9a27-1e8d4f7a6b05"
LIFECYCLE_PATH = "/jira/forge/lifecycle"
DATA_PATH = "/jira/forge/api/projects"
_FORGERIES = (
    FitForgery.WRONG_AUD,
    FitForgery.EXPIRED,
    FitForgery.HS256,
    FitForgery.OTHER_JWKS_KEY,
    FitForgery.HOSTILE_IC_LABEL,
)


def forge_app_env(fake: ForgeJira, app_id: str = DEMO_APP_ID) -> dict[str, str]:
    """The settings the app needs to be this fake Forge's remote."""
    return {"ATLASSIAN_FORGE_APP_ID": app_id, "ATLASSIAN_FORGE_JWKS_URL": fake.forge.jwks_url}


@dataclass
class ChapterResult:
    passed: int = 0
    failed: int = 0


def play_forge_chapter(
    fake: ForgeJira, connect: ConnectApp, *, app_id: str = DEMO_APP_ID, out: TextIO | None = None
) -> ChapterResult:
    """Install through Forge, retry a trigger, load the Custom UI's data, resolve a site upgraded without a
    callback, rotate Forge's key, and send forged tokens. A passed step is what a correct remote answers."""
    out = out or sys.stdout
    result = ChapterResult()
    app = ForgeApp(app_id, connect, LIFECYCLE_PATH)
    platform = fake.forge

    def line(ok: bool, what: str, status: int | str, said: str) -> None:
        if ok:
            result.passed += 1
        else:
            result.failed += 1
        print(f"{'✓' if ok else '✗'} Forge    {what}  → {status}: {said}", file=out, flush=True)

    def step(what: str, send: Callable[[], Response], ok: Callable[[Response], bool], said: str) -> None:
        try:
            response = send()
        except FakeJiraError as error:
            line(False, what, "not sent", str(error))
            return
        line(ok(response), what, response.status, said if ok(response) else f"expected otherwise: {response.text}")

    print("\nForge  The same backend as a Connect-on-Forge app with a Forge Remote (docs/forge.md)", file=out)
    site = fake.add_site("initech")
    site.add_project("TPS", "TPS reports")
    installation = platform.install(site, app)
    statuses = ", ".join(str(r.status) for r in installation.sent)
    line(
        [r.ok for r in installation.sent] == [True, True],
        f"install on {site.name}: Connect installed (body names installationId), then {INSTALLED}",
        statuses,
        "the Connect tenant and its Forge installation are linked",
    )
    retried = platform.fire(installation, INSTALLED, deliveries=3)
    line(
        all(r.ok for r in retried),
        "the installed trigger delivered 3 times (Forge retries up to 4)",
        ", ".join(str(r.status) for r in retried),
        "accepted each time, recorded once",
    )
    step(
        f"GET {DATA_PATH} from the Custom UI (FIT + x-forge-oauth-system)",
        lambda: platform.invoke(installation, "GET", DATA_PATH, user=site.admin),
        lambda r: r.status == 200 and "projects" in r.json(),
        "the page's data: the site's projects, read with the app system token against apiBaseUrl",
    )
    _upgraded_without_callback(fake, app, step)
    platform.keys.rotate()
    step(
        "a FIT signed with Forge's newly rotated key",
        lambda: platform.invoke(installation, "GET", DATA_PATH, user=site.admin),
        lambda r: r.status == 200,
        "accepted: the key is in Forge's JWKS",
    )
    for forgery in _FORGERIES:
        step(
            f"a forged FIT: {forgery.value}",
            functools.partial(
                platform.invoke, installation, "GET", DATA_PATH, user=site.admin,
                token=platform.mint(installation, user=site.admin, forgery=forgery),
            ),
            lambda r: r.status == 401,
            "refused",
        )  # fmt: skip
    _replay(platform, installation, step)
    step(
        "avi:forge:upgraded:app to version 2.0.0",
        lambda: platform.upgrade(installation, "2.0.0")[0],
        lambda r: r.ok,
        "the upgrade is recorded",
    )
    return result


Step = Callable[[str, Callable[[], Response], Callable[[Response], bool], str], None]


def _upgraded_without_callback(fake: ForgeJira, app: ForgeApp, step: Step) -> None:
    site = fake.add_site("umbrella")
    site.add_project("BIO", "Research")
    if not site.install(app.connect).ok:
        step("a Connect install on umbrella", lambda: site.install(app.connect), lambda r: r.ok, "installed")
        return
    upgraded = fake.forge.upgrade_from_connect(site, app)
    step(
        f"GET {DATA_PATH} on {site.name}, moved from Connect to Forge without any callback",
        lambda: fake.forge.invoke(upgraded, "GET", DATA_PATH, user=site.admin),
        lambda r: r.status == 200 and r.json().get("clientKey") == site.client_key,
        "resolved from the token it carries, and linked to the Connect tenant by its site URL",
    )


def _replay(platform: ForgePlatform, installation: ForgeInstallation, step: Step) -> None:
    token = platform.mint(installation, user=installation.site.admin)
    step(
        "a genuine FIT, first use",
        lambda: platform.invoke(installation, "GET", DATA_PATH, user=installation.site.admin, token=token),
        lambda r: r.status == 200,
        "accepted",
    )
    step(
        "the same FIT again (replayed jti)",
        lambda: platform.invoke(installation, "GET", DATA_PATH, user=installation.site.admin, token=token),
        lambda r: r.status == 401,
        "refused: a jti is good for one call",
    )
