"""The app in Chromium, inside fake_jira's host page: the app under gunicorn on a migrated temp SQLite
database, fake_jira's server with two sites, and Debian's Chromium driven by Playwright.

Only ``nox -s browser`` runs these (marker ``browser``). Locally a missing part (Chromium, connect-js from
npm, Playwright) skips them, saying how to get it; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fake_jira.browser.assets import NODE_MODULES_ENV, Assets
from fake_jira.browser.stack import DevStack

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: no QUIC probing, first-run, component or sync traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
# Screenshots of every test's page, kept as artefacts (build/ is not committed).
ARTIFACTS = ROOT / "build" / "browser"
APP_COMMAND = f"{sys.executable} -m gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$PORT --no-control-socket mysite.wsgi"
WHOAMI_DONE = "document.getElementById('whoami').textContent.startsWith('accountId')"


def _missing() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium is not at {CHROMIUM} (Debian: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append(
            "Playwright for Python is not installed (pip install -e '.[browser]'; never `playwright install`)"
        )
    reason = Assets().missing
    if reason:
        missing.append(
            f"{NODE_MODULES_ENV} does not point at connect-js: `nox -s browser` installs it with npm "
            "(Debian: apt-get install nodejs npm)"
        )
    return missing


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    missing = _missing()
    if missing:
        message = "browser tests need: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    database = tmp_path_factory.mktemp("browser") / "app.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "ENVIRONMENT": "dev", "WEB_CONCURRENCY": "2"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    with DevStack(APP_COMMAND, env=env) as running:
        yield running


@pytest.fixture(scope="session")
def chromium(stack: DevStack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class HostPage:
    """One Chromium tab on fake_jira's host page, with everything its console said (the app's frame too)."""

    page: Any
    app_url: str
    console: list[Any] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> HostPage:
        self.page.goto(url)
        return self

    def wait_for_app(self) -> Any:
        """The app's frame, once connect-js's handshake is done and the page has shown whoami's answer."""
        self.page.wait_for_selector("body[data-bridge=established]", state="attached")
        frame = self.app_frame
        frame.wait_for_function(WHOAMI_DONE)
        return frame

    @property
    def app_frame(self) -> Any:
        frame = self.page.frame(url=re.compile(re.escape(self.app_url) + "/"))
        assert frame is not None, f"no frame of the app at {self.app_url}: {[f.url for f in self.page.frames]}"
        return frame

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def console_errors(self) -> list[str]:
        return [
            f"{message.text} ({message.location.get('url')})" for message in self.console if message.type == "error"
        ]


@pytest.fixture
def host_page(chromium: Any, stack: DevStack, request: pytest.FixtureRequest) -> Iterator[HostPage]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    host = HostPage(page, stack.app_url)
    page.on("console", lambda message: host.console.append(message))
    page.on("pageerror", lambda error: host.page_errors.append(str(error)))
    yield host
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
