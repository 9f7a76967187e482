"""A context token: AP.context.getToken() calls the app's own API; the page refuses it (docs/protocol.md §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo.pages import reason
from fake_jira.demo.wire import Sent, short
from fake_jira.descriptor import ConnectApp
from fake_jira.messages import Response
from fake_jira.models import Event
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    site = sites[0]
    story.chapter(
        "A context token.",
        "The page's JavaScript asks AP.context.getToken() for a token and calls the app's own API with it.",
    )
    user = site.add_user("Ada Lovelace")

    def judge(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if response.status != 200:
            return False, f"a correct app answers who is asking ({reason(response)})"
        try:
            answer = response.json()
        except ValueError:
            return True, "answered, but not with JSON"
        if not isinstance(answer, dict):
            return True, "answered, but not with a JSON object"
        account, client_key = answer.get("accountId"), answer.get("clientKey")
        if account not in (None, user.account_id) or client_key not in (None, site.client_key):
            return False, f"WRONG caller: accountId {account}, clientKey {client_key}"
        return True, (
            f"accountId {short(str(account))} ({user.display_name}, who asked), "
            f"clientKey {short(str(client_key))} ({site.name})"
        )

    story.step(app, site.name, lambda: site.call_app(app, "GET", story.context_path, user=user), judge)
    story.page_refused(app, site, Forgery.CONTEXT_QSH, "a page needs a token bound to its own URL", "a context token")
