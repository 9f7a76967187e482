from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

BODY = b"Hello from bare Django."


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BODY, content_type="text/plain")


urlpatterns = [path("", hello)]
