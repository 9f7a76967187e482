"""The story's chapters, one module each, in the order they are played.

``descriptor`` comes first and decides whether there is a story at all; each of the others is a module with
``play(story, app, sites)``, written with the steps of fake_jira.demo.story.Story.
"""

from __future__ import annotations

from types import ModuleType

from fake_jira.demo.chapters import (
    context_token,
    descriptor,
    disable_enable,
    forge,
    forged_install,
    installs,
    pages,
    rotation,
    uninstall,
    webhook,
)

AFTER_THE_DESCRIPTOR: tuple[ModuleType, ...] = (
    installs,
    pages,
    context_token,
    webhook,
    rotation,
    disable_enable,
    forged_install,
    uninstall,
    forge,
)

__all__ = ["AFTER_THE_DESCRIPTOR", "descriptor"]
