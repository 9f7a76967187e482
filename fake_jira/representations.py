"""Jira's JSON shapes for users, projects and issues, shared by the REST API and webhook bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fake_jira.models import Issue, Project, Site, User


def jira_datetime(moment: datetime) -> str:
    """Jira's timestamp format: milliseconds and a ``+0000``-style offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000%z")


def user_json(site: Site, user: User) -> dict[str, Any]:
    return {
        "self": f"{site.base_url}/rest/api/3/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "accountType": user.account_type,
        "displayName": user.display_name,
        "active": True,
        "timeZone": "Etc/UTC",
    }


def project_json(site: Site, project: Project) -> dict[str, Any]:
    return {
        "self": f"{site.base_url}/rest/api/3/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": project.project_type,
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
    }


def issue_json(site: Site, issue: Issue) -> dict[str, Any]:
    project = project_json(site, issue.project)
    return {
        "self": f"{site.base_url}/rest/api/3/issue/{issue.id}",
        "id": issue.id,
        "key": issue.key,
        "fields": {
            "summary": issue.summary,
            "project": {name: project[name] for name in ("self", "id", "key", "name", "projectTypeKey")},
            "issuetype": {"name": issue.issue_type},
            "status": {"name": issue.status},
            "reporter": user_json(site, issue.reporter),
            "created": jira_datetime(issue.created),
        },
    }
