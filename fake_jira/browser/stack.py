"""The app and fake_jira's server side by side, two sites installed: what ``nox -s dev`` and the browser
tests run.

The app runs as a shell command (``AppProcess``, as in the demo) on a free loopback port, told where
fake_jira is through the environment; fake_jira's server runs on a thread of this process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fake_jira.browser.host import ALL_JS_PATH
from fake_jira.browser.server import BrowserHostServer
from fake_jira.demo.command import AppProcess
from fake_jira.descriptor import ConnectApp
from fake_jira.server import DEFAULT_HOST, ThreadedServer, free_port
from fake_jira.sites import JiraSite
from fake_jira.transports import RequestsTransport

DEFAULT_DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class SitePlan:
    """A site to create: its name, a second user beside its admin, and one project."""

    name: str
    user: str
    project: tuple[str, str]


SITES = (
    SitePlan("acme", "Alice Acme", ("ROCKET", "Rocket skates")),
    SitePlan("globex", "Grace Globex", ("HAMMOCK", "Hammock district")),
)


class DevStack:
    """Start with ``with DevStack(...) as stack``: ``stack.app`` is installed on ``stack.sites``."""

    def __init__(
        self,
        app_command: str,
        *,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        node_modules: Path | None = None,
        descriptor_path: str = DEFAULT_DESCRIPTOR_PATH,
    ) -> None:
        self.app_command = app_command
        self._env = dict(os.environ if env is None else env)
        self._descriptor_path = descriptor_path
        self._server = ThreadedServer(
            DEFAULT_HOST, port, server_class=lambda host, port: BrowserHostServer(host, port, node_modules=node_modules)
        )
        self._process: AppProcess | None = None
        self.app_url = ""
        self.sites: list[JiraSite] = []
        self._app: ConnectApp | None = None

    @property
    def server(self) -> BrowserHostServer:
        server = self._server.server
        assert isinstance(server, BrowserHostServer)  # built by our server_class
        return server

    @property
    def app(self) -> ConnectApp:
        if self._app is None:
            raise RuntimeError("the stack is not running: call start() first")
        return self._app

    def start(self) -> None:
        """fake_jira's server, then the app, then the sites with the app installed; stops all on failure."""
        try:
            self._server.start()
            fake = self.server.fake
            app_port = free_port()
            self.app_url = f"http://{DEFAULT_HOST}:{app_port}"
            env = {
                **self._env,
                "PORT": str(app_port),
                "ATLASSIAN_CONNECT_BASE_URL": self.app_url,
                "ATLASSIAN_CONNECT_INSTALL_KEYS_URL": fake.keys_url,
                "ATLASSIAN_CONNECT_ALL_JS_URL": self.server.url + ALL_JS_PATH,
            }
            self._process = AppProcess(self.app_command, env)
            self._process.wait_until_serving(self.app_url + self._descriptor_path, STARTUP_SECONDS)
            self._app = fake.connect_app(RequestsTransport(self.app_url), self._descriptor_path)
            self.server.host.register(self._app)
            for plan in SITES:
                site = fake.add_site(plan.name)
                site.add_user(plan.user)
                site.add_project(*plan.project)
                answer = site.install(self._app)
                if not answer.ok:
                    raise RuntimeError(f"the app refused the install on {plan.name}: HTTP {answer.status}")
                self.sites.append(site)
        except BaseException:
            self.stop()
            raise

    def output_tail(self) -> list[str]:
        """The app's last lines of output, for when something went wrong."""
        return self._process.output_tail() if self._process else []

    def page_urls(self) -> list[tuple[JiraSite, str]]:
        """Each site's host page of the app's general page, as each of its users."""
        host = self.server.host
        return [(site, host.page_url(site, self.app, user=user)) for site in self.sites for user in site.state.users]

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        self._server.stop()

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
