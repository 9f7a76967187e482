"""pytest fixtures for testing a Connect app against FakeJira, whatever framework the app uses.

Enable with ``pytest_plugins = ["fake_jira.pytest_plugin"]`` in the root conftest.py. Nothing here touches
the app's settings: the project's conftest points the app at ``fake_jira.keys_url`` and picks a transport.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_jira.mock import mock_jira
from fake_jira.server import ThreadedServer
from fake_jira.simulator import FakeJira
from fake_jira.sites import JiraSite


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    """A fresh FakeJira for this test, answering in-process ``requests`` calls; reset afterwards."""
    with mock_jira() as fake:
        yield fake


@pytest.fixture
def jira_site(fake_jira: FakeJira) -> JiraSite:
    """One site, ``acme``, on the test's FakeJira."""
    return fake_jira.add_site("acme")


@pytest.fixture(scope="session")
def fake_jira_server() -> Iterator[ThreadedServer]:
    """A FakeJira on a loopback HTTP server, shared by the session: reset ``.fake`` in tests that need it clean."""
    with ThreadedServer() as server:
        yield server
