"""Page loads: the iframe's token picks the tenant by its iss (docs/protocol.md §3, §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    story.chapter(
        "Page loads.", "Jira's iframe URL carries a JWT signed with the site's secret; its iss picks the tenant."
    )
    for site in sites:
        story.page(app, site)
