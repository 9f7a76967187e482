"""``python -m fake_jira <command>``: the simulator from the command line.

Each sub-command is a function registered in ``_COMMANDS`` with the function that adds its arguments, so
adding one is adding two functions and a line. A user's mistake (a port in use, no server at --server, an
app that does not answer, a step that needs an install that failed) gets one line on stderr and exit status
2, never a traceback; exit status 1 is the app's answer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import requests

from fake_jira import conformance, demo
from fake_jira.exceptions import FakeJiraError
from fake_jira.server import DEFAULT_HOST, DEFAULT_PORT, FakeJiraHTTPServer
from fake_jira.transports import ConnectTo

USER_ERROR = 2


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any (default: %(default)s)"
    )


def serve(args: argparse.Namespace) -> int:
    """Serve the install-key service, every site's REST API and the control plane until interrupted."""
    try:
        server = FakeJiraHTTPServer(args.host, args.port)
    except OSError as error:
        raise FakeJiraError(
            f"cannot listen on {args.host}:{args.port} ({error.strerror or error}): pick another --port"
        ) from None
    urls = server.fake.urls
    print(f"fake_jira serving at {server.url}", flush=True)
    print(f"  install keys: {urls.keys_url}/<kid>", flush=True)
    print(f"  sites:        {urls.site_base_url('<name>')}  (add one: POST {urls.control_url}/sites)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _add_lifecycle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "descriptor_url", help="the app's descriptor, e.g. http://127.0.0.1:8000/jira/atlassian-connect.json"
    )
    parser.add_argument(
        "--server",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="a running 'python -m fake_jira serve' (default: %(default)s)",
    )
    parser.add_argument("--site", default="acme", help="the site's name; install creates it (default: %(default)s)")
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST1:PORT1:HOST2:PORT2",
        help="reach an app that listens elsewhere than its baseUrl: requests keep their URLs (as curl's option)",
    )


def _lifecycle_command(action: str, summary: str) -> Callable[[argparse.Namespace], int]:
    """A sub-command that asks a running server's control plane to send ``action`` to the app."""

    def run(args: argparse.Namespace) -> int:
        for rule in args.connect_to:
            ConnectTo.parse(rule)  # a malformed rule is the user's mistake, said before anything is sent
        control = args.server.rstrip("/") + "/_fake"
        site_url = f"{control}/sites/{args.site}"
        body = {"descriptorUrl": args.descriptor_url, "connectTo": args.connect_to}
        try:
            if action == "install" and requests.get(site_url, timeout=10).status_code == 404:
                _control_json(args.server, requests.post(f"{control}/sites", json={"name": args.site}, timeout=10))
            result = _control_json(args.server, requests.post(f"{site_url}/{action}", json=body, timeout=60))
        except requests.RequestException as error:
            raise FakeJiraError(
                f"no fake_jira at {args.server} ({type(error).__name__}): start 'python -m fake_jira serve'"
            ) from None
        print(f"{action} on {args.site} ({result['site']['baseUrl']}): the app answered HTTP {result['appStatus']}")
        if args.connect_to:
            print(f"connect-to: {', '.join(args.connect_to)} (connections moved, requests unchanged)")
        return 0 if 200 <= result["appStatus"] < 300 else 1

    run.__doc__ = summary
    return run


def _add_page_arguments(parser: argparse.ArgumentParser) -> None:
    _add_lifecycle_arguments(parser)
    parser.add_argument("--module", help="the page module's key (default: the descriptor's first page)")


def page(args: argparse.Namespace) -> int:
    """Load a page as the site's Jira would, and print its signed URL to open in a browser (valid 180 s)."""
    control = args.server.rstrip("/") + "/_fake"
    body = {"descriptorUrl": args.descriptor_url, **({"module": args.module} if args.module else {})}
    try:
        answer = requests.post(f"{control}/sites/{args.site}/page", json=body, timeout=60)
    except requests.RequestException as error:
        print(
            f"no fake_jira at {args.server} ({type(error).__name__}): start 'python -m fake_jira serve'",
            file=sys.stderr,
        )
        return 1
    if answer.status_code != 200:
        print(f"fake_jira refused: {'; '.join(answer.json()['errorMessages'])}", file=sys.stderr)
        return 1
    result = answer.json()
    print(f"page {result['module']} on {args.site}: the app answered HTTP {result['appStatus']}")
    print(f"open it within 180 s: {result['url']}")
    return 0 if result["appStatus"] == 200 else 1


_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "serve": (_add_serve_arguments, serve),
    "install": (
        _add_lifecycle_arguments,
        _lifecycle_command("install", "Install the app on a site of a running server."),
    ),
    "rotate": (
        _add_lifecycle_arguments,
        _lifecycle_command("reinstall", "Reinstall the app, rotating its sharedSecret on that site."),
    ),
    "uninstall": (_add_lifecycle_arguments, _lifecycle_command("uninstall", "Uninstall the app from a site.")),
    "page": (_add_page_arguments, page),
    "demo": (demo.add_arguments, demo.run),
    "check": (conformance.add_arguments, conformance.run),
}


def _control_json(server: str, answer: requests.Response) -> dict[str, Any]:
    """The control plane's JSON answer; FakeJiraError with its message when it refused, or when --server is
    something else."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise FakeJiraError(
            f"{server} answered HTTP {answer.status_code} without fake_jira's JSON: is --server a running "
            "'python -m fake_jira serve'?"
        )
    if not answer.ok:
        raise FakeJiraError(f"fake_jira refused: {'; '.join(map(str, body.get('errorMessages', [])))}")
    return body


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fake_jira", description="A Jira Cloud simulator.")
    commands = parser.add_subparsers(dest="command", required=True, title="commands")
    for name, (add_arguments, run) in _COMMANDS.items():
        add_arguments(commands.add_parser(name, help=(run.__doc__ or "").strip()))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command][1](args)
    except FakeJiraError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
