"""The site's front page: in development a short guide to this app, in production one line."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jira_app.conf import conf
from jira_app.decorators import public
from jira_app.descriptor import app_path
from jira_app.models import AtlassianHost


@public
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """What this is, where its descriptor is, and how to install it; production says only what it is."""
    descriptor_url = conf.base_url + app_path("descriptor")
    if settings.IS_PROD:
        return HttpResponse(f"{conf.app_name}: an Atlassian Connect app for Jira Cloud.\n", content_type="text/plain")
    context = {
        "app_key": conf.app_key,
        "app_name": conf.app_name,
        "base_url": conf.base_url,
        "descriptor_url": descriptor_url,
        "admin_url": reverse("admin:index"),
        "install_keys_url": conf.install_keys_url,
        "installed_sites": AtlassianHost.objects.filter(installed=True).count(),
    }
    return render(request, "index.html", context)
