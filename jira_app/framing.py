"""Who may frame the app's pages: only the tenant's own Jira, never a blanket X-Frame-Options exemption."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpResponse

from jira_app.models import AtlassianHost


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allow_framing_by(response: HttpResponse, host: AtlassianHost) -> HttpResponse:
    """Let ``host`` (its baseUrl and custom domain) frame this one response, and nobody else."""
    origins = sorted({_origin(url) for url in (host.base_url, host.display_url) if url})
    response["Content-Security-Policy"] = "frame-ancestors " + " ".join(origins)
    # CSP frame-ancestors replaces X-Frame-Options, whose DENY would also block the tenant.
    response.xframe_options_exempt = True  # read by XFrameOptionsMiddleware
    return response
