"""A forged install: someone who is not Atlassian installs over a tenant (docs/mistakes.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_jira.demo.verdicts import refused
from fake_jira.demo.wire import install_body
from fake_jira.descriptor import ConnectApp
from fake_jira.sites import JiraSite
from fake_jira.tokens import Forgery

if TYPE_CHECKING:
    from fake_jira.demo.story import Story


def play(story: Story, app: ConnectApp, sites: list[JiraSite]) -> None:
    site = sites[0]
    story.chapter(
        "A forged install.",
        f"Someone who is not Atlassian tries to install over {site.name}, with a secret of their own.",
    )
    story.step(
        app,
        site.name,
        lambda: site.install(app, forgery=Forgery.TAMPERED_SIGNATURE),
        refused("only Atlassian's private key makes a valid install signature"),
        note=f"forged: {Forgery.TAMPERED_SIGNATURE.value}",
        extra=install_body(None),
    )
    story.page(app, site, lead="the forgery changed nothing: ")
