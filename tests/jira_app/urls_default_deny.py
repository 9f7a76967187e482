"""A URLconf with a view nobody decorated, to prove the middleware protects it anyway."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path

from jira_app.decorators import public


def forgotten(request):
    return HttpResponse(f"secret data for {request.atlassian_host.client_key}")


@public
def health(request):
    return HttpResponse("ok")


urlpatterns = [
    path("forgotten/", forgotten),
    path("health/", health),
    path("jira/", include("jira_app.urls")),
]
