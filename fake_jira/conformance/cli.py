"""``python -m fake_jira check``: the command line of the conformance check.

Options: ``--keys-port`` (where the check serves install keys), ``--context-path`` (the app's endpoint for
``AP.context.getToken()`` tokens, relative to baseUrl; a missing leading '/' is added), ``--connect-to
HOST1:PORT1:HOST2:PORT2`` (repeatable; curl's: the connection goes to HOST2:PORT2, the request and its qsh stay
those of baseUrl), ``--strict`` (warnings count as failures), ``--forge-app-id`` (with
``--forge-lifecycle-path`` and ``--forge-endpoint-path``: the Forge Remote cases).
"""

from __future__ import annotations

import argparse
import sys

from fake_jira.conformance.forge import DEFAULT_ENDPOINT_PATH, DEFAULT_LIFECYCLE_PATH, ForgeRemote
from fake_jira.conformance.runner import run_conformance
from fake_jira.exceptions import FakeJiraError
from fake_jira.transports import ConnectTo

_CHECK_EPILOG = """\
The app must fetch install keys from the check's own install-key service, so choose its port and start the
app with it first; for this project's app:

  ATLASSIAN_CONNECT_INSTALL_KEYS_URL=http://127.0.0.1:8002/install-keys python manage.py runserver 8000
  python -m fake_jira check http://127.0.0.1:8000/jira/atlassian-connect.json \\
      --keys-port 8002 --context-path /jira/api/whoami

Every route comes from the descriptor, except the context endpoint (--context-path), and every request
goes to the descriptor's baseUrl, as Jira sends it. For an app that listens elsewhere (behind a tunnel),
--connect-to app.example.com:443:127.0.0.1:3000 moves the connection only, as curl's option does; the report
says so. Nothing but the app and the check's own loopback server is contacted. The check installs the app on
sites of its own and uninstalls it from each at the end; run it against a throwaway database all the same.

A Connect-on-Forge app's Forge Remote is checked too with --forge-app-id, the app's Forge ARI: the check then
also serves Forge's JWKS (printed second), and the app must run with ATLASSIAN_FORGE_APP_ID set to that ARI
and ATLASSIAN_FORGE_JWKS_URL to the JWKS. Its lifecycle trigger and UI endpoints default to this project's
(--forge-lifecycle-path, --forge-endpoint-path).

Set-up problems (no descriptor at the URL, a baseUrl that answers nothing or serves another app, an app that
never fetches its key from the check's install-key service, a --context-path that is a URL) stop the check
before any case, with one line that names the fix.

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
        "--connect-to",
        action="append",
        default=[],
        type=_connect_to,
        metavar="HOST1:PORT1:HOST2:PORT2",
        help="connect to HOST2:PORT2 for requests to HOST1:PORT1, keeping their URLs and qsh (repeatable)",
    )
    parser.add_argument(
        "--forge-app-id",
        metavar="ARI",
        help="the app's Forge app ARI (ari:cloud:ecosystem::app/<uuid>), which enables the Forge Remote cases "
        "(default: they are skipped)",
    )
    parser.add_argument(
        "--forge-lifecycle-path",
        default=DEFAULT_LIFECYCLE_PATH,
        help="the remote endpoint Forge's lifecycle triggers reach, relative to baseUrl (default: %(default)s)",
    )
    parser.add_argument(
        "--forge-endpoint-path",
        default=DEFAULT_ENDPOINT_PATH,
        help="a remote endpoint a Custom UI page calls, answering 200 to a genuine GET (default: %(default)s)",
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
            args.descriptor_url,
            keys_port=args.keys_port,
            context_path=args.context_path,
            strict=args.strict,
            connect_to=args.connect_to,
            forge=_forge_remote(args),
        )
    except FakeJiraError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    return 0 if report.failed == 0 else 1


def _connect_to(text: str) -> ConnectTo:
    try:
        return ConnectTo.parse(text)
    except FakeJiraError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _forge_remote(args: argparse.Namespace) -> ForgeRemote | None:
    if args.forge_app_id is None:
        return None
    return ForgeRemote(args.forge_app_id, args.forge_lifecycle_path, args.forge_endpoint_path)
