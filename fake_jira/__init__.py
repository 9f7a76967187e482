"""fake_jira: a Jira Cloud simulator for testing Atlassian Connect apps, as moto is for AWS."""

from __future__ import annotations

from fake_jira.mock import mock_jira
from fake_jira.simulator import FakeJira

__all__ = ["FakeJira", "mock_jira"]
