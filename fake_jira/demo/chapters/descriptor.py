"""The descriptor: what Jira reads first (docs/protocol.md §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import requests

from fake_jira.demo.verdicts import StoryOver
from fake_jira.descriptor import ConnectApp
from fake_jira.exceptions import DescriptorError

if TYPE_CHECKING:
    from fake_jira.demo.story import Story

# Page module types whose first module the story loads.
PAGE_MODULE_TYPES = ("generalPages", "adminPages", "jiraProjectPages", "configurePage")


def play(story: Story) -> ConnectApp | None:
    """Fetch and check the descriptor as Jira would; None (the story ends) when Jira could not use it."""
    story.chapter("The descriptor.", "Jira reads it first: the app's key, baseUrl, callbacks, pages, webhooks.")
    sent = f"GET {story.descriptor_path}"
    try:
        app = story.fake.connect_app(story.wire, story.descriptor_path)
    except DescriptorError as error:
        story.line(False, "jira", sent, None, "Jira would not install it: " + " ".join(error.problems))
        return None
    except requests.RequestException as error:
        story.line(False, "jira", sent, None, f"the app did not answer ({type(error).__name__})")
        raise StoryOver from error
    story.page_key = page_module(app)
    story.webhook_event = webhook_event(app)
    if story.page_key is None:
        story.line(False, "jira", sent, 200, f"no page module ({', '.join(PAGE_MODULE_TYPES)}) to load")
        return None
    hook = f", webhook {story.webhook_event}" if story.webhook_event else ""
    story.line(
        True,
        "jira",
        sent,
        200,
        f"key {app.key}, baseUrl {app.base_url}, installs signed (signed-install), "
        f"context tokens bound (context-qsh); page {story.page_key!r} at {app.module_url(story.page_key)}{hook}",
    )
    return app


def page_module(app: ConnectApp) -> str | None:
    modules = app.descriptor.get("modules") or {}
    for module_type in PAGE_MODULE_TYPES:
        entries = modules.get(module_type) or []
        for module in entries if isinstance(entries, list) else [entries]:
            if isinstance(module, Mapping) and "key" in module and "url" in module:
                return str(module["key"])
    return None


def webhook_event(app: ConnectApp) -> str | None:
    hooks = (app.descriptor.get("modules") or {}).get("webhooks") or []
    return next((str(hook["event"]) for hook in hooks if isinstance(hook, Mapping) and hook.get("event")), None)
