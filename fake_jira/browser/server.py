"""fake_jira's HTTP server with the browser's routes in front of the simulator's."""

from __future__ import annotations

from pathlib import Path

from fake_jira.browser.assets import Assets
from fake_jira.browser.host import BrowserHost
from fake_jira.messages import Request, Response
from fake_jira.server import DEFAULT_HOST, FakeJiraHTTPServer


class BrowserHostServer(FakeJiraHTTPServer):
    """Everything ``FakeJiraHTTPServer`` serves, plus host pages (``host``) and connect-js (``host.assets``)."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, *, node_modules: Path | None = None) -> None:
        super().__init__(host, port)
        self.host = BrowserHost(self.fake, Assets(node_modules))

    def respond(self, request: Request) -> Response:
        return self.host.handle(request) or super().respond(request)
