"""``python -m fake_jira check``: the command line of the conformance check."""

from __future__ import annotations

import argparse
import sys

from fake_jira.conformance.runner import run_conformance
from fake_jira.exceptions import FakeJiraError

# --- Command line: python -m fake_jira check --------------------------------------------------------------

_CHECK_EPILOG = """\
The app must fetch install keys from the check's own install-key service, so choose its port and start the
app with it first; for this project's app:

  ATLASSIAN_CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8002/install-keys python manage.py runserver 8000
  python -m fake_jira check http://127.0.0.1:8000/jira/atlassian-connect.json \\
      --keys-port 8002 --context-path /jira/api/whoami

Every route comes from the descriptor, except the context endpoint (--context-path). Nothing but the app
and the check's own loopback server is contacted.

Each case passes (✓), fails (✗: a forgery accepted, a tenant changed by one, a genuine request refused, a
5xx), warns (⚠: refused, but with another 4xx than the conventional one) or leaves a hardening note (◇:
stricter than the protocol requires, such as kid shapes). The last line, "N passed, M failed", counts
failures only; the line before it counts warnings and hardening notes. --strict counts warnings as failures.

Exit status: 0 when no case fails, 1 when one does, 2 when the check cannot start.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Put a running Connect app, in any language, through the conformance suite over HTTP."
    parser.epilog = _CHECK_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "descriptor_url", help="the app's descriptor, e.g. http://127.0.0.1:8000/jira/atlassian-connect.json"
    )
    parser.add_argument(
        "--keys-port",
        type=int,
        default=0,
        help="loopback port of the check's install-key service, which the app must be configured with "
        "(default: any free port, printed at start)",
    )
    parser.add_argument(
        "--context-path",
        help="the app's endpoint for AP.context.getToken() tokens, relative to its baseUrl, e.g. /jira/api/whoami "
        "(default: its cases are skipped)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="count warnings (a refusal with an unconventional 4xx) as failures, as this project's CI does",
    )


def run(args: argparse.Namespace) -> int:
    """Check a running Connect app's conformance over HTTP (lifecycle, rotation, isolation, qsh, hostile cases)."""
    try:
        report = run_conformance(
            args.descriptor_url, keys_port=args.keys_port, context_path=args.context_path, strict=args.strict
        )
    except FakeJiraError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    return 0 if report.failed == 0 else 1
