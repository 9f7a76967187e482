"""Disable and enable: a disabled tenant's tokens are refused until it is enabled (docs/protocol.md §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo.verdicts import accepted
from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    site = sites[2]
    story.chapter("Disable and enable.", "A disabled app gets no traffic from the site; enabled, it works again.")
    if app.lifecycle_url("disabled") is None or app.lifecycle_url("enabled") is None:
        story.note("the descriptor declares no enabled/disabled callbacks: skipped")
        return
    story.step(app, site.name, lambda: site.disable(app), accepted("disabled"))
    story.page_refused(app, site, None, "the app is disabled on this site", "while disabled")
    story.step(app, site.name, lambda: site.enable(app), accepted("enabled again"))
    story.page(app, site, lead="works again: ")
