"""Signed installs: each site hands the app its clientKey and a new sharedSecret (docs/protocol.md §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    story.chapter("Signed installs.", "Each site sends its clientKey and a new sharedSecret, signed by Atlassian.")
    for site in sites:
        story.install(app, site, what="installed")
