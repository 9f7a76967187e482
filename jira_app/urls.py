"""The app's routes under /jira/ (docs/protocol.md). Paths are stable: Jira and tools outside rely on them."""

from __future__ import annotations

from django.urls import path

from jira_app import views

app_name = "jira_app"

urlpatterns = [
    path("atlassian-connect.json", views.descriptor, name="descriptor"),
    path("installed", views.installed, name="installed"),
    path("uninstalled", views.uninstalled, name="uninstalled"),
    path("enabled", views.enabled, name="enabled"),
    path("disabled", views.disabled, name="disabled"),
    path("hello.html", views.hello, name="hello"),
    path("api/whoami", views.whoami, name="whoami"),
    path("webhooks/issue-created", views.webhook_issue_created, name="webhook-issue-created"),
    # Forge Remote endpoints (forge/manifest.yml), authenticated by Forge Invocation Tokens.
    path("forge/lifecycle", views.forge_lifecycle, name="forge-lifecycle"),
    path("forge/api/projects", views.forge_projects, name="forge-projects"),
]
