"""A webhook, and its retry: the app keeps one copy per delivery identifier (docs/protocol.md §6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo import readback
from fake_jira.demo.pages import reason
from fake_jira.demo.verdicts import accepted
from fake_jira.demo.wire import Sent, short
from fake_jira.descriptor import ConnectApp
from fake_jira.messages import Response
from fake_jira.models import Event
from fake_jira.sites import JiraSite

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    site = sites[1]
    story.chapter("A webhook.", "Jira POSTs the event with a JWT; a retry repeats the delivery's identifier.")
    event = story.webhook_event
    if event is None:
        story.note("the descriptor subscribes to no webhook: nothing to send")
        return
    project = next(iter(site.state.projects))
    issue = site.add_issue(project, "Printer on fire")
    story.step(
        app,
        site.name,
        lambda: site.send_webhook(app, event, issue=issue),
        accepted(f"delivered {event} for {issue.key}"),
        extra=delivery,
    )

    def kept_once(response: Response, events: list[Event], sent: Sent) -> tuple[bool, str]:
        if not response.ok:
            return False, f"refused ({reason(response)}); a correct app accepts a retry, and keeps one copy"
        if story.stored_webhooks is None:
            return True, "the retry accepted too (give --stored-webhooks-command to see what the app kept)"
        identifier = sent.header("X-Atlassian-Webhook-Identifier") or ""
        try:
            copies = readback.copies_of(story.stored_webhooks(), identifier)
        except readback.ReadBackFailed as error:
            return False, f"the retry accepted, but what the app stored could not be read back: {error}"
        if len(copies) != 1:
            return False, f"the app stored {len(copies)} copies of delivery {short(identifier)}; a correct app keeps 1"
        duplicates = copies[0].get("duplicates")
        counted = f", its duplicates counter {duplicates}" if duplicates is not None else ""
        return True, f"the retry accepted, and read back from the app's store: one copy kept{counted}"

    story.step(app, site.name, lambda: site.retry_webhook(app), kept_once, extra=delivery)


def delivery(sent: Sent) -> str:
    retry = sent.header("X-Atlassian-Webhook-Retry") or "0"
    return f"+ identifier {short(sent.header('X-Atlassian-Webhook-Identifier') or '?')}, retry {retry}"
