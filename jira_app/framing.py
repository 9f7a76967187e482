"""Who may frame the app's pages: only the tenant's own Jira, never a blanket X-Frame-Options exemption."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse

from jira_app import hosts
from jira_app.models import AtlassianHost

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def _frame_ancestors(base_url: str, display_url: str) -> tuple[str, tuple[str, ...]]:
    """The CSP directive for a tenant's URLs, and why any was left out, kept per process for the URLs.

    Each origin is rebuilt from a checked URL: a stored value never reaches the header as it is.
    """
    origins, problems = set(), []
    for name, url in (("baseUrl", base_url), ("displayUrl", display_url)):
        if not url:
            continue
        try:
            origins.add(hosts.parse(url, field=name).origin)
        except hosts.InvalidSiteUrl as exc:
            problems.append(str(exc))
    # 'none' when no origin is usable: an empty source list would mean the same, but says it less plainly.
    return "frame-ancestors " + (" ".join(sorted(origins)) or "'none'"), tuple(problems)


@receiver(setting_changed)
def _forget_frame_ancestors(**kwargs: Any) -> None:
    # What hosts.parse accepts follows the settings (ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES).
    _frame_ancestors.cache_clear()


def allow_framing_by(response: HttpResponse, host: AtlassianHost) -> HttpResponse:
    """Let ``host`` (its baseUrl and custom domain) frame this one response, and nobody else."""
    directive, problems = _frame_ancestors(host.base_url, host.display_url)
    for problem in problems:
        logger.warning("not allowing client_key=%r to frame the page: %s", host.client_key, problem)
    response["Content-Security-Policy"] = directive
    # CSP frame-ancestors replaces X-Frame-Options, whose DENY would also block the tenant.
    response.xframe_options_exempt = True  # read by XFrameOptionsMiddleware
    return response
