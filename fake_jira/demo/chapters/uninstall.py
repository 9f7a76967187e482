"""Uninstall: signed by Atlassian like the install; the tenant's tokens are refused after (docs/protocol.md §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo.verdicts import accepted
from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    site = sites[1]
    story.chapter("Uninstall.", "Signed by Atlassian like the install; afterwards the site's tokens are refused.")
    story.step(app, site.name, lambda: site.uninstall(app), accepted("uninstalled"))
    story.page_refused(app, site, None, "the app is uninstalled from this site", "its last secret")
