"""The app as Jira knows it: its descriptor, checked the way an install would check it, and how to reach it.

Every URL Jira calls on the app (lifecycle callbacks, pages, webhooks) comes from the descriptor, relative to
its ``baseUrl``: nothing about the app's routes is hard-coded here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fake_jira.exceptions import FakeJiraError
from fake_jira.transports import AppTransport

LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")
# Without these two Jira would never send the sharedSecret, or never say the app was removed.
REQUIRED_LIFECYCLE_EVENTS = ("installed", "uninstalled")
_APP_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")
# webItems may link anywhere (an absolute URL is a plain link), so only these must be relative.
_LINKED_MODULE_TYPES = frozenset({"webItems"})
_MIGRATION_REASONS = {
    "signed-install": "installs would be signed with a shared secret, which allows the tenant-takeover attack "
    "(docs/mistakes.md)",
    "context-qsh": "context tokens would carry no qsh and could be replayed against any of the app's routes "
    "(docs/protocol.md §5)",
}


def _modules(descriptor: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Each module as (type, where in the descriptor, module), whether its type holds a list or one module."""
    modules = descriptor.get("modules")
    if not isinstance(modules, Mapping):
        return
    for module_type, value in modules.items():
        entries = value if isinstance(value, list) else [value]
        for index, module in enumerate(entries):
            if isinstance(module, Mapping):
                where = f"modules.{module_type}[{index}]" if isinstance(value, list) else f"modules.{module_type}"
                yield module_type, where, module


def _is_relative(url: object) -> bool:
    return isinstance(url, str) and url.startswith("/") and not url.startswith("//")


def _check_base_url(base_url: object) -> list[str]:
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            f"'baseUrl' is {base_url!r}, not an absolute http(s) URL: Jira sends every request to "
            "baseUrl + a path from the descriptor"
        ]
    if parts.query or parts.fragment:
        return [f"'baseUrl' {base_url!r} has a query or fragment: Jira appends paths to it, so it must end in a path"]
    return []


def _check_lifecycle(lifecycle: object) -> list[str]:
    if not isinstance(lifecycle, Mapping):
        return ["'lifecycle' is missing: Jira needs at least the installed and uninstalled callback paths"]
    problems = [
        f"'lifecycle.{event}' is missing: Jira would never tell the app it was {event}"
        for event in REQUIRED_LIFECYCLE_EVENTS
        if event not in lifecycle
    ]
    problems += [
        f"'lifecycle.{event}' is {url!r}, not a path relative to baseUrl (write it as '/{event}')"
        for event, url in lifecycle.items()
        if event in LIFECYCLE_EVENTS and not _is_relative(url)
    ]
    return problems


def _check_modules(descriptor: Mapping[str, Any]) -> list[str]:
    problems = []
    for module_type, where, module in _modules(descriptor):
        url = module.get("url")
        if module_type == "webhooks" and not (isinstance(module.get("event"), str) and module.get("event")):
            problems.append(f"'{where}.event' is missing: Jira cannot tell which event the webhook is for")
        if module_type == "webhooks" and url is None:
            problems.append(f"'{where}.url' is missing: Jira has nowhere to deliver the webhook")
        elif url is not None and module_type not in _LINKED_MODULE_TYPES and not _is_relative(url):
            problems.append(f"'{where}.url' is {url!r}, not a path relative to baseUrl (it must start with '/')")
    return problems


def check_descriptor(descriptor: object) -> list[str]:
    """Every reason Jira would refuse to install this descriptor, one sentence each ([] when it would install)."""
    if not isinstance(descriptor, Mapping):
        return ["the descriptor is not a JSON object"]
    problems = []
    key = descriptor.get("key")
    if not isinstance(key, str) or not key:
        problems.append("'key' is missing: Jira identifies the app by it, and it is the iss of the app's tokens")
    elif not _APP_KEY.fullmatch(key):
        problems.append(f"'key' {key!r} must be 1 to 64 letters, digits, '.', '_' or '-'")
    problems += _check_base_url(descriptor.get("baseUrl"))
    authentication = descriptor.get("authentication")
    auth_type = authentication.get("type") if isinstance(authentication, Mapping) else None
    if not isinstance(auth_type, str) or auth_type.lower() != "jwt":
        problems.append(
            f"'authentication.type' is {auth_type!r}, not 'jwt': Jira would send no sharedSecret and sign nothing"
        )
    migrations = descriptor.get("apiMigrations")
    for migration, reason in _MIGRATION_REASONS.items():
        if not isinstance(migrations, Mapping) or migrations.get(migration) is not True:
            problems.append(f"'apiMigrations.{migration}' is not true: {reason}")
    problems += _check_lifecycle(descriptor.get("lifecycle"))
    if not isinstance(descriptor.get("modules", {}), Mapping):
        problems.append("'modules' is not an object of module types, like {\"generalPages\": [...]}")
    problems += _check_modules(descriptor)
    return problems


@dataclass(frozen=True)
class ConnectApp:
    """An app whose descriptor passed ``check_descriptor``, and the transport that reaches it."""

    descriptor: Mapping[str, Any]
    transport: AppTransport

    @property
    def key(self) -> str:
        return str(self.descriptor["key"])

    @property
    def name(self) -> str:
        name = self.descriptor.get("name")
        return name if isinstance(name, str) and name else self.key

    @property
    def base_url(self) -> str:
        return str(self.descriptor["baseUrl"]).rstrip("/")

    @property
    def base_path(self) -> str:
        """The path part of baseUrl: Jira hashes requests to the app relative to it (docs/protocol.md §4)."""
        return urlsplit(self.base_url).path

    def target(self, url: str) -> str:
        """The request target (path and query) for a descriptor URL relative to baseUrl."""
        return self.base_path + url

    @property
    def scopes(self) -> list[str]:
        """The descriptor's ``scopes``, as declared ([] when it declares none)."""
        scopes = self.descriptor.get("scopes", [])
        return [str(scope) for scope in scopes] if isinstance(scopes, list) else []

    def lifecycle_url(self, event: str) -> str | None:
        url = self.descriptor.get("lifecycle", {}).get(event)
        return str(url) if url else None

    def module_url(self, module_key: str) -> str:
        """The URL of the module with this key (a page, panel, dialog...); FakeJiraError lists the known keys."""
        found = {
            str(module["key"]): str(module["url"])
            for _, _, module in _modules(self.descriptor)
            if "key" in module and "url" in module
        }
        if module_key not in found:
            raise FakeJiraError(f"app {self.key!r} has no module {module_key!r} with a url; it has {sorted(found)}")
        return found[module_key]

    def webhook_urls(self, event: str) -> list[str]:
        """The URLs subscribed to ``event``; FakeJiraError when none is (Jira would deliver nothing)."""
        webhooks = [module for module_type, _, module in _modules(self.descriptor) if module_type == "webhooks"]
        urls = [str(hook["url"]) for hook in webhooks if hook.get("event") == event]
        if not urls:
            events = sorted({str(hook.get("event")) for hook in webhooks})
            raise FakeJiraError(f"app {self.key!r} does not subscribe to {event!r}; it subscribes to {events}")
        return urls
