"""The conformance check: put any Atlassian Connect app, whatever its language, through the protocol over HTTP.

``python -m fake_jira check <descriptor-url>`` (or ``run_conformance`` from Python) serves a FakeJira on a
loopback port: its install-key service, which the app under test must be configured to fetch keys from, and
its sites' REST APIs, which the app may call back. Every route it exercises comes from the app's descriptor,
except the optional context-token endpoint (``context_path``), which no descriptor names.

One module per area of the protocol: ``lifecycle``, ``pages``, ``webhooks``, ``context`` and ``installs``
(hostile callbacks), each with a ``cases(app)`` function; ``core`` holds what they share (the case type, the
verdicts, the state a case drives), ``runner`` runs them in order and ``cli`` is the command line.
"""

from __future__ import annotations

from fake_jira.conformance.cli import add_arguments, run
from fake_jira.conformance.core import Case, CaseResult, Conformance, Outcome, Report, Skipped
from fake_jira.conformance.runner import build_cases, run_conformance

__all__ = [
    "Case",
    "CaseResult",
    "Conformance",
    "Outcome",
    "Report",
    "Skipped",
    "add_arguments",
    "build_cases",
    "run",
    "run_conformance",
]
