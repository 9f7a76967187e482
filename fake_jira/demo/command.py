"""``python -m fake_jira demo``: the command. It serves fake_jira over loopback HTTP, starts the app (a shell
command) or uses one already running, waits for its descriptor, plays the story, and always stops the app."""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TextIO

import requests

from fake_jira.demo import readback
from fake_jira.demo.output import wrap
from fake_jira.demo.story import DEFAULT_CONTEXT_PATH, DEFAULT_DESCRIPTOR_PATH, Story
from fake_jira.forge import ForgeJira, forge_app_env
from fake_jira.server import DEFAULT_HOST, DEFAULT_PORT, ThreadedServer, free_port
from fake_jira.transports import RequestsTransport

DEFAULT_STARTUP_SECONDS = 30.0
INTRO = """\
How a Connect app knows who is calling:
  1. Install: Jira POSTs the site's clientKey and a fresh sharedSecret to the app, in a request
     signed RS256 by Atlassian; the app checks the signature with the public key named by the
     token's kid, then stores both.
  2. From then on every request from that site (page loads, webhooks, enable/disable) carries a
     JWT signed HS256 with that secret: its iss names the site (the tenant), its qsh hashes the
     method, path and query.
  3. The app calls the site's REST API back with a JWT of its own, signed with the same secret."""


class AppDidNotStart(Exception):
    """The app exited, or never answered its descriptor URL in time; the message says which."""


class AppProcess:
    """The app as a shell command in its own process group, so that stopping it stops its workers too.

    Its output is kept aside (the last lines only), to be shown when something goes wrong.
    """

    OUTPUT_LINES = 30
    STOP_SECONDS = 10.0

    def __init__(self, command: str, env: Mapping[str, str]) -> None:
        self.command = command
        self._output: collections.deque[str] = collections.deque(maxlen=self.OUTPUT_LINES)
        # shell=True: the command is the user's own, written as they would type it (with $PORT).
        self._process = subprocess.Popen(  # noqa: S602
            command,
            shell=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own session: Ctrl-C reaches the demo only, which then stops the whole group itself.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="app-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None  # stdout=PIPE
        for line in self._process.stdout:
            self._output.append(line.rstrip())

    def output_tail(self) -> list[str]:
        return list(self._output)

    def wait_until_serving(self, url: str, timeout: float) -> None:
        """Return once GET ``url`` answers 200; AppDidNotStart if the app exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        last = "no connection"
        while True:
            code = self._process.poll()
            if code is not None:
                raise AppDidNotStart(f"the app exited with status {code} before GET {url} answered")
            try:
                status = requests.get(url, timeout=2).status_code
                if status == 200:
                    return
                last = f"HTTP {status}"
            except requests.RequestException as error:
                last = type(error).__name__
            if time.monotonic() > deadline:
                raise AppDidNotStart(f"GET {url} did not answer 200 within {timeout:g} s (last: {last})")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after STOP_SECONDS."""
        self._signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=self.STOP_SECONDS)
        # Also reaches workers whose master already exited.
        self._signal(signal.SIGKILL)
        self._process.wait()
        self._reader.join(timeout=1)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)


@contextmanager
def _signals_stop_the_demo() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does, so the cleanup that stops the app still runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--app-command",
        help="shell command that starts the app; it gets PORT, ATLASSIAN_CONNECT_BASE_URL and "
        "ATLASSIAN_CONNECT_INSTALL_KEYS_URL (and the Forge settings, with --forge-app-id) in its environment and "
        "must serve on 127.0.0.1:$PORT",
    )
    target.add_argument(
        "--app-url",
        help="the root URL of an app already running, instead of --app-command; it must fetch install keys from "
        f"fake_jira: ATLASSIAN_CONNECT_INSTALL_KEYS_URL=http://{DEFAULT_HOST}:{DEFAULT_PORT}/install-keys",
    )
    parser.add_argument(
        "--descriptor-path", default=DEFAULT_DESCRIPTOR_PATH, help="the app's descriptor (default: %(default)s)"
    )
    parser.add_argument(
        "--context-path",
        default=DEFAULT_CONTEXT_PATH,
        help="the app's API route for context tokens, relative to its baseUrl (default: %(default)s, this project's)",
    )
    parser.add_argument(
        "--fake-jira-port",
        type=int,
        help=f"fake_jira's port (default: a free one with --app-command, {DEFAULT_PORT} with --app-url)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=DEFAULT_STARTUP_SECONDS,
        help="seconds to wait for the app's descriptor (default: %(default)g)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after each step, show its token's header and claims (secrets as fingerprints), who signed it, the "
        "canonical request and its SHA-256, the qsh",
    )
    parser.add_argument(
        "--forge-app-id",
        metavar="ARI",
        help="play the Forge chapter as the Forge app with this ARI; --app-command's app gets "
        "ATLASSIAN_FORGE_APP_ID and ATLASSIAN_FORGE_JWKS_URL (fake_jira's) in its environment, an app at "
        "--app-url must have them already",
    )
    parser.add_argument(
        "--stored-webhooks-command",
        help="shell command that prints the app's stored webhook deliveries as a JSON list, so the webhook "
        "chapter can show the retry was kept once (e.g. 'python manage.py dumpdata jira_app.WebhookDelivery')",
    )


def run(args: argparse.Namespace) -> int:
    """Play the Connect JWT story (three sites, installs, pages, rotation, forgeries; Forge with --forge-app-id)
    against an app."""
    out = sys.stdout
    color = out.isatty() and "NO_COLOR" not in os.environ
    default_port = 0 if args.app_command else DEFAULT_PORT
    port = default_port if args.fake_jira_port is None else args.fake_jira_port
    process: AppProcess | None = None
    print(INTRO, end="\n\n", flush=True)
    stored_webhooks = None
    try:
        with _signals_stop_the_demo(), ThreadedServer(DEFAULT_HOST, port) as server:
            fake = server.fake
            if args.forge_app_id:
                # Swapped in before the app is told anything, so every request reaches the ForgeJira.
                fake = server.server.fake = ForgeJira(server.fake.urls)
            _say(f"Jira (fake_jira):  {server.url}  install keys at {fake.keys_url}/<kid>, sites under /sites/")
            if isinstance(fake, ForgeJira):
                _say(f"Forge (fake_jira): {fake.forge.jwks_url}  the JWKS of its invocation tokens")
            env: Mapping[str, str] = os.environ
            if args.app_command:
                app_port = free_port()
                app_url = f"http://{DEFAULT_HOST}:{app_port}"
                env = {
                    **os.environ,
                    "PORT": str(app_port),
                    "ATLASSIAN_CONNECT_BASE_URL": app_url,
                    "ATLASSIAN_CONNECT_INSTALL_KEYS_URL": fake.keys_url,
                    **(forge_app_env(fake, args.forge_app_id) if isinstance(fake, ForgeJira) else {}),
                }
                _say(f"The app:           {app_url}  $ {args.app_command}")
                process = AppProcess(args.app_command, env)
                started = time.monotonic()
                process.wait_until_serving(app_url + args.descriptor_path, args.startup_timeout)
                _say(f"answered its descriptor after {time.monotonic() - started:.1f} s", first=_INDENT)
            else:
                app_url = args.app_url.rstrip("/")
                _say(f"The app:           {app_url}  (already running)")
            if args.stored_webhooks_command:
                stored_webhooks = readback.from_command(args.stored_webhooks_command, env)
            with requests.Session() as session:
                story = Story(
                    fake,
                    RequestsTransport(app_url, session=session),
                    descriptor_path=args.descriptor_path,
                    context_path=args.context_path,
                    out=out,
                    color=color,
                    explain=args.explain,
                    stored_webhooks=stored_webhooks,
                    forge_app_id=args.forge_app_id,
                )
                passed = story.play()
            if not passed and process is not None:
                _print_output_tail(process)
            return 0 if passed else 1
    except AppDidNotStart as error:
        print(f"✗ {error}.", file=sys.stderr)
        if process is not None:
            process.stop()
            _print_output_tail(process, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if process is not None:
            process.stop()


_INDENT = " " * 19  # under the URLs of the two lines above


def _say(text: str, *, first: str = "") -> None:
    for line in wrap(text, _INDENT, first_indent=first):
        print(line, flush=True)


def _print_output_tail(process: AppProcess, file: TextIO | None = None) -> None:
    lines = process.output_tail()
    print(f"\nThe app's last {len(lines)} lines of output ($ {process.command}):", file=file)
    for line in lines:
        print(f"  | {line}", file=file)
