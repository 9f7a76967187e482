"""A URLconf mounting jira_app at the root, where the Connect routes cannot be told apart by their prefix."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("", include("jira_app.urls"))]
