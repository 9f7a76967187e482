"""The simulator's state: sites with their users, projects, issues and app installations; the event log.

Plain objects, no HTTP: what a Jira site remembers. sites.py changes it as it sends the app lifecycle
callbacks; handlers.py reads it to answer the app's REST calls.
"""

from __future__ import annotations

import enum
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fake_jira.exceptions import FakeJiraError


def new_account_id() -> str:
    """A user's accountId in the classic 24-hex-digit shape (``5b10ac8d82e05b22cc7d4ef5``)."""
    return secrets.token_hex(12)


def new_app_account_id() -> str:
    """An app user's accountId: Atlassian prefixes app users with ``557058:``."""
    return f"557058:{uuid.uuid4()}"


@dataclass(frozen=True)
class User:
    account_id: str
    display_name: str
    account_type: str = "atlassian"


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str
    project_type: str = "software"


@dataclass(frozen=True)
class Issue:
    id: str
    key: str
    project: Project
    summary: str
    reporter: User
    created: datetime
    issue_type: str = "Task"
    status: str = "To Do"


@dataclass
class Installation:
    """One app on one site: its secret (and the ones rotated away), its app user, whether it is on."""

    app_key: str
    app_user: User
    shared_secret: str
    oauth_client_id: str
    previous_secrets: list[str] = field(default_factory=list)
    installed: bool = True
    enabled: bool = True
    # What the descriptor's scopes grant, as of the latest install (scopes.granted).
    scopes: frozenset[str] = frozenset()
    # The app properties API: JSON values by property key, the app's own on this site.
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether Jira lets the app call its REST API (uninstalled or disabled apps get 401)."""
        return self.installed and self.enabled


class Site:
    """A simulated Jira Cloud site (a Connect tenant): identity, content and installed apps."""

    def __init__(self, name: str, base_url: str, *, display_url: str | None = None, licensed: bool = False) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.display_url = display_url
        self.client_key = str(uuid.uuid4())
        # A paid app's install carries a SEN and its pages lic=active (docs/protocol.md §2, §7).
        self.entitlement_number = f"SEN-{secrets.randbelow(10**8):08d}" if licensed else None
        self.users = [User(new_account_id(), "Site Admin")]
        self.projects: dict[str, Project] = {}
        self.issues: dict[str, Issue] = {}
        self.installations: dict[str, Installation] = {}
        self._next_id = 10000

    @property
    def base_path(self) -> str:
        """The context path ("" on *.atlassian.net): app tokens hash REST paths relative to it (docs/protocol.md §6)."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def admin(self) -> User:
        """The user who acts unless told otherwise: installs apps, loads pages, triggers webhooks."""
        return self.users[0]

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def add_user(self, display_name: str) -> User:
        user = User(new_account_id(), display_name)
        self.users.append(user)
        return user

    def add_project(self, key: str, name: str) -> Project:
        if key in self.projects:
            raise FakeJiraError(f"site {self.name!r} already has a project {key!r}")
        project = Project(self._new_id(), key, name)
        self.projects[key] = project
        return project

    def add_issue(self, project_key: str, summary: str, *, reporter: User | None = None) -> Issue:
        project = self.projects.get(project_key)
        if project is None:
            raise FakeJiraError(f"site {self.name!r} has no project {project_key!r}: add_project() it first")
        number = 1 + sum(1 for issue in self.issues.values() if issue.project is project)
        issue = Issue(
            id=self._new_id(),
            key=f"{project_key}-{number}",
            project=project,
            summary=summary,
            reporter=reporter or self.admin,
            created=datetime.now(UTC),
        )
        self.issues[issue.key] = issue
        return issue

    def update_issue(self, issue: Issue, *, summary: str) -> Issue:
        """The issue with its editable fields changed (only the summary is editable)."""
        updated = replace(issue, summary=summary)
        self.issues[issue.key] = updated
        return updated

    def find_user(self, account_id: str) -> User | None:
        """A user of the site, or an installed app's user."""
        app_users = [installation.app_user for installation in self.installations.values()]
        return next((user for user in [*self.users, *app_users] if user.account_id == account_id), None)

    def find_issue(self, id_or_key: str) -> Issue | None:
        found = self.issues.get(id_or_key)
        return found or next((issue for issue in self.issues.values() if issue.id == id_or_key), None)

    def installation(self, app_key: str) -> Installation | None:
        return self.installations.get(app_key)

    def oauth_client_id(self, app_key: str) -> str:
        """The app's OAuth client id on this site: stable across reinstalls (docs/protocol.md §6)."""
        found = self.installations.get(app_key)
        return found.oauth_client_id if found else secrets.token_urlsafe(24)

    def record_installed(
        self,
        app_key: str,
        app_name: str,
        shared_secret: str,
        oauth_client_id: str,
        *,
        scopes: frozenset[str],
    ) -> Installation:
        """Remember a completed install; a reinstall keeps the old secret as rotated away (docs/protocol.md §8)."""
        found = self.installations.get(app_key)
        if found is None:
            found = Installation(
                app_key=app_key,
                app_user=User(new_app_account_id(), app_name, account_type="app"),
                shared_secret=shared_secret,
                oauth_client_id=oauth_client_id,
            )
            self.installations[app_key] = found
        else:
            found.previous_secrets.append(found.shared_secret)
            found.shared_secret = shared_secret
        found.installed = found.enabled = True
        found.scopes = scopes
        return found

    def record_uninstalled(self, app_key: str) -> None:
        installation = self._existing(app_key)
        installation.installed = installation.enabled = False

    def record_enabled(self, app_key: str, *, enabled: bool) -> None:
        self._existing(app_key).enabled = enabled

    def _existing(self, app_key: str) -> Installation:
        installation = self.installations.get(app_key)
        if installation is None:
            raise FakeJiraError(f"app {app_key!r} was never installed on site {self.name!r}: install() it first")
        return installation


class Direction(enum.Enum):
    TO_APP = "jira→app"
    FROM_APP = "app→jira"


@dataclass(frozen=True)
class Event:
    """One request in the log: who sent it, what it was for, the request line and the answer."""

    direction: Direction
    site: str | None
    action: str
    request: str
    status: int
    detail: str = ""

    def __str__(self) -> str:
        line = f"[{self.direction.value}] {self.site or '-'}: {self.action}: {self.request} -> {self.status}"
        return f"{line} ({self.detail})" if self.detail else line
