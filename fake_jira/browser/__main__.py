"""``python -m fake_jira.browser --app-command CMD``: the app in a Jira-like page, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from fake_jira.browser.assets import NODE_MODULES_ENV
from fake_jira.browser.stack import DEFAULT_DESCRIPTOR_PATH, DevStack
from fake_jira.demo.command import AppDidNotStart
from fake_jira.server import DEFAULT_PORT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fake_jira.browser",
        description="Start the app and fake_jira's server with two sites, and print the host pages to open.",
    )
    parser.add_argument(
        "--app-command",
        required=True,
        help="shell command that starts the app; it gets PORT, ATLASSIAN_CONNECT_BASE_URL, "
        "ATLASSIAN_CONNECT_INSTALL_KEYS_URL and ATLASSIAN_CONNECT_ALL_JS_URL and must serve on 127.0.0.1:$PORT",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="fake_jira's port, 0 for any (default: %(default)s)"
    )
    parser.add_argument(
        "--descriptor-path", default=DEFAULT_DESCRIPTOR_PATH, help="the app's descriptor (default: %(default)s)"
    )
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM and SIGHUP stop it as Ctrl-C does, so the app (in its own process group) is stopped too.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    stack = DevStack(args.app_command, port=args.port, descriptor_path=args.descriptor_path)
    try:
        stack.start()
    except AppDidNotStart as error:
        print(f"✗ {error}.", file=sys.stderr)
        return 1
    try:
        server = stack.server
        print(f"fake_jira: {server.url}   the app: {stack.app_url}", flush=True)
        if server.host.assets.missing:
            print(f"! {server.host.assets.missing}", flush=True)
        print("Open a host page (each site as each of its users):")
        for site, url in stack.page_urls():
            print(f"  {site.name:8} {url}")
        foreign = stack.page_urls()[0][1].replace("127.0.0.1", "localhost", 1)
        print(f"A host on another origin, which the app refuses to be framed by:\n  {foreign}")
        print(f"(connect-js from {NODE_MODULES_ENV}={server.host.assets.node_modules})")
        print("Ctrl-C stops everything.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
