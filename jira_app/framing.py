"""Who may frame the app's pages: only the tenant's own Jira, never a blanket X-Frame-Options exemption."""

from __future__ import annotations

import logging

from django.http import HttpResponse

from jira_app import hosts
from jira_app.models import AtlassianHost

logger = logging.getLogger(__name__)


def _origins(host: AtlassianHost) -> list[str]:
    """The tenant's origins, each rebuilt from a checked URL: a stored value never reaches the header as it is."""
    origins = set()
    for name, url in (("baseUrl", host.base_url), ("displayUrl", host.display_url)):
        if not url:
            continue
        try:
            origins.add(hosts.parse(url, field=name).origin)
        except hosts.InvalidSiteUrl as exc:
            logger.warning("not allowing client_key=%r to frame the page: %s", host.client_key, exc)
    return sorted(origins)


def allow_framing_by(response: HttpResponse, host: AtlassianHost) -> HttpResponse:
    """Let ``host`` (its baseUrl and custom domain) frame this one response, and nobody else."""
    # 'none' when no origin is usable: an empty source list would mean the same, but says it less plainly.
    response["Content-Security-Policy"] = "frame-ancestors " + (" ".join(_origins(host)) or "'none'")
    # CSP frame-ancestors replaces X-Frame-Options, whose DENY would also block the tenant.
    response.xframe_options_exempt = True  # read by XFrameOptionsMiddleware
    return response
