"""Fixtures for fake_jira's own tests: a framework-free toy app to drive."""

from __future__ import annotations

import pytest

from tests.fake_jira.toy_app import DESCRIPTOR_PATH, ToyApp


@pytest.fixture
def toy_app(fake_jira):
    return ToyApp(keys_url=fake_jira.keys_url)


@pytest.fixture
def app(fake_jira, toy_app):
    """The toy app as Jira knows it, its descriptor fetched and checked."""
    return fake_jira.connect_app(toy_app, DESCRIPTOR_PATH)


@pytest.fixture
def installed(jira_site, app):
    """The toy app installed on the acme site."""
    response = jira_site.install(app)
    assert response.status == 204, response.text
    return app
