from __future__ import annotations

from django.apps import AppConfig


class JiraAppConfig(AppConfig):
    name = "jira_app"
    verbose_name = "Atlassian Connect for Jira"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jira_app import checks  # noqa: F401  # registers the system checks
