"""``python -m fake_jira demo``: the Connect JWT flow told as a story, played against a real app.

``story.Story`` plays the chapters (``chapters/``, one module each) against any Connect app through any
transport: every route but the context-token endpoint comes from the app's descriptor. Each step prints what
was sent, what came back, and ✓ or ✗, wrapped at 100 columns; with ``--explain`` also the token decoded, the
canonical request and its hash (``wire``). ``command`` is the command line: fake_jira served over loopback
HTTP, the app started or reached, the story played, the app always stopped.
"""

from __future__ import annotations

from fake_jira.demo.command import add_arguments, run
from fake_jira.demo.pages import PageFacts, read_page
from fake_jira.demo.story import Story
from fake_jira.demo.wire import fingerprint_of

__all__ = ["PageFacts", "Story", "add_arguments", "fingerprint_of", "read_page", "run"]
