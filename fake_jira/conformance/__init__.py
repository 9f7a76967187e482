"""The conformance check: put any Atlassian Connect app, whatever its language, through the protocol over HTTP.

``python -m fake_jira check <descriptor-url>`` (or ``run_conformance`` from Python) serves a FakeJira on a
loopback port: its install-key service, which the app under test must be configured to fetch keys from, and
its sites' REST APIs, which the app may call back. Every route it exercises comes from the app's descriptor,
except the optional context-token endpoint (``context_path``) and a Forge Remote's endpoints (``forge``),
which no descriptor names.

One module per area of the protocol: ``lifecycle``, ``pages``, ``webhooks``, ``context``, ``installs``
(hostile callbacks) and ``forge`` (a Connect-on-Forge app's Forge Remote), each with a ``cases(app)``
function; ``core`` holds what they share (the case type, the verdicts, the state a case drives), ``runner``
runs them in order and ``cli`` is the command line. A new area is one more such module and a ``Group`` in
``runner.GROUPS``, with a ``skip`` that names what enables it when it cannot run.
"""

from __future__ import annotations

from fake_jira.conformance.cli import add_arguments, run
from fake_jira.conformance.core import (
    BAD_BODY,
    CALLBACK_OK,
    DELIVERED,
    PAGE_OK,
    REFUSED,
    TOO_LARGE,
    Case,
    CaseResult,
    Conformance,
    Group,
    Outcome,
    Report,
    SetupError,
    Skipped,
    Statuses,
    Step,
    Verdict,
)
from fake_jira.conformance.forge import ForgeRemote
from fake_jira.conformance.runner import GROUPS, CheckCannotStart, build_cases, run_conformance

__all__ = [
    "BAD_BODY",
    "CALLBACK_OK",
    "DELIVERED",
    "GROUPS",
    "PAGE_OK",
    "REFUSED",
    "TOO_LARGE",
    "Case",
    "CaseResult",
    "CheckCannotStart",
    "Conformance",
    "ForgeRemote",
    "Group",
    "Outcome",
    "Report",
    "SetupError",
    "Skipped",
    "Statuses",
    "Step",
    "Verdict",
    "add_arguments",
    "build_cases",
    "run",
    "run_conformance",
]
