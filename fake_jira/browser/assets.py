"""The published JavaScript the host page needs, served from an ``npm ci`` of ``npm/package-lock.json``.

Nothing here is vendored: ``FAKE_JIRA_NODE_MODULES`` (or the ``node_modules`` argument) names the folder
``npm ci`` filled, outside the repository; without it the host page says how to get one.
"""

from __future__ import annotations

import os
from pathlib import Path

from fake_jira.messages import Response

NODE_MODULES_ENV = "FAKE_JIRA_NODE_MODULES"
NPM_DIR = Path(__file__).resolve().parent / "npm"

# URL name -> file under node_modules. all.js is what the app's page loads (its ATLASSIAN_CONNECT_ALL_JS_URL):
# Jira and Atlassian's CDN serve iframe.js under that name.
FILES = {
    "connect-host.js": "atlassian-connect-js/dist/connect-host.js",
    "all.js": "atlassian-connect-js/dist/iframe.js",
    "jquery.js": "jquery/dist/jquery.min.js",
}

HOW_TO_INSTALL = (
    f"Atlassian's connect-js is not installed. Run `nox -s dev` (it installs it), or install it yourself: "
    f"`npm ci --ignore-scripts --prefix <folder>` with a copy of {NPM_DIR.name}/package.json and "
    f"package-lock.json from fake_jira/browser/ in <folder>, then set {NODE_MODULES_ENV}=<folder>/node_modules "
    "for fake_jira's server. Node.js comes from your system's packages (Debian: apt-get install nodejs npm)."
)


class Assets:
    """The npm files by URL name, or the reason they cannot be served (``missing``)."""

    def __init__(self, node_modules: Path | None = None) -> None:
        if node_modules is None and os.environ.get(NODE_MODULES_ENV):
            node_modules = Path(os.environ[NODE_MODULES_ENV])
        self.node_modules = node_modules

    @property
    def missing(self) -> str | None:
        """Why the files cannot be served, with what to do about it; None when they can."""
        if self.node_modules is None:
            return HOW_TO_INSTALL
        absent = [path for path in FILES.values() if not (self.node_modules / path).is_file()]
        if absent:
            return f"{self.node_modules} lacks {', '.join(absent)}. {HOW_TO_INSTALL}"
        return None

    def response(self, name: str) -> Response:
        """The file as served to the browser; 404 for a name not in FILES, 503 while not installed."""
        if name not in FILES:
            return Response.from_text(404, f"no such script: {name}")
        reason = self.missing
        if reason is not None or self.node_modules is None:
            return Response.from_text(503, reason or HOW_TO_INSTALL)
        body = (self.node_modules / FILES[name]).read_bytes()
        return Response(200, {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"}, body)
