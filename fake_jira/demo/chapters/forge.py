"""Forge: the same backend as a Connect-on-Forge app with a Forge Remote (docs/forge.md).

Played when the story has a Forge app ARI (``--forge-app-id``) and its fake plays Forge (a ``ForgeJira``); the
app must run with ``fake_jira.forge.forge_app_env``. Two sites of its own: one installed through Forge, one
moved from Connect to Forge without any callback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from fake_jira.demo.pages import reason
from fake_jira.demo.verdicts import Judge, accepted, refused
from fake_jira.demo.wire import Sent, short
from fake_jira.descriptor import ConnectApp
from fake_jira.forge.platform import INSTALLED, UPGRADED, ForgeApp, ForgeInstallation, ForgeJira
from fake_jira.forge.tokens import FitForgery
from fake_jira.messages import Response
from fake_jira.models import Event
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story

# The page's data call for an installation, with the FIT given (None: a fresh genuine one).
Call = Callable[[ForgeInstallation, str | None], Response]

# This project's Forge Remote endpoints (forge/manifest.yml), relative to the remote's baseUrl.
LIFECYCLE_PATH = "/jira/forge/lifecycle"
DATA_PATH = "/jira/forge/api/projects"
SITES = {"hooli": (("HOOLI", "Hooli XYZ"),), "umbrella": (("BIO", "Research"),)}
_FORGERIES = (
    FitForgery.WRONG_AUD,
    FitForgery.EXPIRED,
    FitForgery.HS256,
    FitForgery.OTHER_JWKS_KEY,
    FitForgery.HOSTILE_IC_LABEL,
)


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    story.chapter(
        "Forge.",
        "The same backend as a Connect-on-Forge app: Forge installs it, then calls its remote with a Forge "
        "Invocation Token (FIT) and a system token for the site's REST API.",
    )
    fake = story.fake
    if story.forge_app_id is None or not isinstance(fake, ForgeJira):
        story.note("not played: give --forge-app-id ARI, and give the app the Forge settings the demo prints")
        return
    forge_app = ForgeApp(story.forge_app_id, app, app.target(LIFECYCLE_PATH))
    platform = fake.forge

    def call(installation: ForgeInstallation, token: str | None = None) -> Response:
        """The Custom UI page's call for its data, as a user's invokeRemote reaches the remote."""
        site = installation.site
        return platform.invoke(installation, "GET", app.target(DATA_PATH), user=site.admin, token=token)

    hooli, umbrella = (story.new_site(name, projects) for name, projects in SITES.items())
    installation = platform.link(hooli, forge_app)
    story.install(app, hooli, what=f"installed through Forge, installation {short(installation.installation_id[-36:])}")
    _triggers(story, app, installation)
    story.step(app, hooli.name, lambda: call(installation), _data(installation))
    _moved_without_callback(story, app, forge_app, umbrella, call)
    platform.keys.rotate()  # the new key was published before it signs: the app's cached key set has it
    story.step(app, hooli.name, lambda: call(installation), _data(installation, "signed with Forge's rotated key: "))
    for forgery in _FORGERIES:
        token = platform.mint(installation, user=hooli.admin, forgery=forgery)
        send = functools.partial(call, installation, token)
        story.step(
            app, hooli.name, send, refused("only Forge's own FITs, unaltered, pass"), note=f"forged: {forgery.value}"
        )
    token = platform.mint(installation, user=hooli.admin)
    story.step(app, hooli.name, lambda: call(installation, token), _data(installation, "first use: "))
    story.step(
        app, hooli.name, lambda: call(installation, token), refused("a FIT is good for one call"),
        note="the same jti again",
    )  # fmt: skip
    story.step(
        app,
        hooli.name,
        lambda: platform.upgrade(installation, "2.0.0")[-1],
        accepted(f"{UPGRADED}: version 2.0.0 recorded"),
    )


def _triggers(story: Story, app: ConnectApp, installation: ForgeInstallation) -> None:
    assert isinstance(story.fake, ForgeJira)  # guaranteed by play()
    platform = story.fake.forge
    story.step(app, installation.site.name, lambda: platform.fire(installation, INSTALLED)[-1], accepted(INSTALLED))
    delivered: list[Response] = []

    def retried() -> Response:
        delivered.extend(platform.fire(installation, INSTALLED, deliveries=3))
        return delivered[-1]

    def each_accepted(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        statuses = ", ".join(str(r.status) for r in delivered)
        if not all(r.ok for r in delivered):
            return False, f"answered {statuses}; a correct remote accepts every delivery of a trigger"
        return True, f"3 deliveries of the same event ({statuses}), accepted each time, recorded once"

    story.step(app, installation.site.name, retried, each_accepted, note="delivered 3 times")


def _data(installation: ForgeInstallation, lead: str = "") -> Judge:
    site = installation.site

    def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if response.status != 200:
            return False, f"a correct remote answers a genuine FIT ({reason(response)})"
        try:
            data = response.json()
        except ValueError:
            return False, "answered, but not with the page's JSON"
        keys = sorted(str(p.get("key")) for p in data.get("projects", []) if isinstance(p, dict))
        if data.get("clientKey") not in (None, site.client_key) or keys != sorted(site.state.projects):
            return False, f"WRONG tenant: clientKey {data.get('clientKey')}, projects {keys}"
        via = "read with the system token from apiBaseUrl" if _gateway_called(events) else "from the app"
        return True, f"{lead}{site.name}'s projects ({', '.join(keys)}), {via}"

    return judge


def _gateway_called(events: list[Event]) -> bool:
    return any(event.action == "Forge REST" and event.status == 200 for event in events)


def _moved_without_callback(story: Story, app: ConnectApp, forge_app: ForgeApp, site: JiraSite, call: Call) -> None:
    """A site Atlassian moved from Connect to Forge: no callback reaches the app, the FIT's data resolves it."""
    assert isinstance(story.fake, ForgeJira)  # guaranteed by play()
    story.install(app, site, what="a Connect install, before Forge")
    connect = site.state.installation(app.key)
    if connect is None or not connect.installed:
        return
    moved = story.fake.forge.upgrade_from_connect(site, forge_app)
    story.step(
        app,
        site.name,
        lambda: call(moved, None),
        _data(moved, "moved to Forge without a callback, linked by its site: "),
    )
