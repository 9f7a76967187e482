"""The app descriptor (``atlassian-connect.json``), built from settings and the URLconf."""

from __future__ import annotations

import functools
import json
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, reverse

from jira_app.conf import conf

API_MIGRATIONS = {
    # Installs are RS256-signed by Atlassian; context tokens carry qsh "context-qsh" (docs/protocol.md §2, §5).
    "signed-install": True,
    "context-qsh": True,
}


def app_path(url_name: str) -> str:
    """A route's path relative to the app's baseUrl, as the descriptor wants it."""
    path = reverse(f"jira_app:{url_name}")
    base_path = conf.base_path
    return path[len(base_path) :] if base_path and path.startswith(base_path + "/") else path


def build_descriptor() -> dict[str, Any]:
    base_url = conf.base_url
    return {
        "key": conf.app_key,
        "name": conf.app_name,
        "description": f"my jira test {conf.environment}",
        "baseUrl": base_url,
        "links": {"self": base_url + app_path("descriptor")},
        "vendor": {"name": "jira-connect-django", "url": base_url},
        "authentication": {"type": "jwt"},
        "apiVersion": 1,
        "apiMigrations": dict(API_MIGRATIONS),
        "lifecycle": {
            "installed": app_path("installed"),
            "uninstalled": app_path("uninstalled"),
            "enabled": app_path("enabled"),
            "disabled": app_path("disabled"),
        },
        # Least privilege (Marketplace security requirement 4): the app only reads.
        "scopes": ["READ"],
        "modules": {
            "generalPages": [
                {
                    "key": "hello",
                    "location": "system.top.navigation.bar",
                    "name": {"value": "hello"},
                    "url": app_path("hello"),
                }
            ],
            "webhooks": [{"event": "jira:issue_created", "url": app_path("webhook-issue-created")}],
        },
    }


def descriptor_json() -> bytes:
    """The descriptor as the route serves it, built once per process (and SCRIPT_NAME, which its paths follow)."""
    return _serialised(get_script_prefix())


@functools.lru_cache(maxsize=16)
def _serialised(script_prefix: str) -> bytes:
    # The prefix is only the cache key: reverse() reads it itself. A few per server at most, hence the bound.
    return json.dumps(build_descriptor()).encode()


@receiver(setting_changed)
def _forget_descriptor(**kwargs: Any) -> None:
    # The descriptor changes only with the settings: in tests by override_settings; in a deployment by a restart.
    _serialised.cache_clear()
