"""A secret rotation: a reinstall's new sharedSecret replaces the old one at once (docs/protocol.md §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    story.chapter("A secret rotation.", "A reinstall brings a new sharedSecret: the old one must stop working at once.")
    site, others = sites[0], sites[1:]
    old = site.installation(app).shared_secret
    story.install(app, site, what="reinstalled, secret rotated", rotated_from=old)
    story.page_refused(
        app, site, Forgery.PREVIOUS_SECRET, "that secret was replaced by the reinstall", "the old secret"
    )
    story.page(app, site, lead="the new secret works: ")
    for other in others:
        story.page(app, other, lead="untouched: ")
