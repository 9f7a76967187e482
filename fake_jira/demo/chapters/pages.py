"""Page loads: the iframe's token picks the tenant by its iss (docs/protocol.md §3, §7); a logged-out viewer's
token names no user (no ``sub``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo.pages import judge_page, read_page, reason
from fake_jira.demo.wire import Sent
from fake_jira.descriptor import ConnectApp
from fake_jira.messages import Response
from fake_jira.models import Event
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    story.chapter(
        "Page loads.", "Jira's iframe URL carries a JWT signed with the site's secret; its iss picks the tenant."
    )
    for site in sites:
        story.page(app, site)
    anonymous_page(story, app, sites[0])


def anonymous_page(story: Story, app: ConnectApp, site: JiraSite) -> None:
    """A public issue seen by a logged-out viewer: Jira signs the page load without ``sub``."""
    accounts = {user.account_id: user.display_name for user in site.state.users}

    def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if response.status != 200:
            return False, f"a correct app shows the page to a logged-out viewer too ({reason(response)})"
        facts = read_page(response.text)
        ok, said = judge_page(site, facts, events)
        if not ok:
            return ok, said
        if facts.account_id in accounts:
            return False, f"the page shows {accounts[facts.account_id]}'s accountId, but the token named no user"
        shown = f"the page says {facts.account_id!r}" if facts.account_id else "no user shown"
        return True, f"no sub, so no user ({shown}); {said}"

    assert story.page_key is not None  # the descriptor chapter ends the story without one
    key = story.page_key
    story.step(
        app, site.name, lambda: site.load_page(app, key, anonymous=True), judge, note="no sub: a logged-out viewer"
    )
