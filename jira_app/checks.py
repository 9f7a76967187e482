"""System checks for jira_app's settings. Every ID lives in MESSAGES and is never reused."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections, router

from jira_app import forge
from jira_app.conf import ENVIRONMENTS, conf

MIDDLEWARE_PATH = "jira_app.middleware.ConnectJwtMiddleware"
CSRF_MIDDLEWARE_PATH = "django.middleware.csrf.CsrfViewMiddleware"
ROUTES_MIDDLEWARE_PATH = "jira_app.middleware.ConnectRoutesMiddleware"
_APP_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")

# id: (message, hint)
MESSAGES = {
    "jira_app.E001": (
        "ATLASSIAN_CONNECT_BASE_URL must be an absolute http(s) URL without query or fragment.",
        "Set it to the app's public address, e.g. https://my-app.example.com.",
    ),
    "jira_app.E002": (
        "ATLASSIAN_CONNECT_INSTALL_KEYS_URL must be an absolute http(s) URL without query or fragment.",
        "Leave it unset for Atlassian's key service, or point it at fake_jira's key service in tests.",
    ),
    "jira_app.E003": (
        f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: the app's routes would be unauthenticated.",
        f"Add '{MIDDLEWARE_PATH}' to MIDDLEWARE, before '{CSRF_MIDDLEWARE_PATH}'.",
    ),
    "jira_app.E004": (
        f"{MIDDLEWARE_PATH} comes after {CSRF_MIDDLEWARE_PATH}: Jira's lifecycle and webhook POSTs would get 403.",
        f"Move '{MIDDLEWARE_PATH}' above '{CSRF_MIDDLEWARE_PATH}' in MIDDLEWARE.",
    ),
    "jira_app.E005": (
        "ATLASSIAN_CONNECT_ENCRYPTION_KEYS must hold at least one valid Fernet key.",
        "Generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
    ),
    "jira_app.E006": (
        "ENVIRONMENT is 'prod' but ATLASSIAN_CONNECT_ENCRYPTION_KEYS holds the public development key: "
        "every stored sharedSecret could be decrypted by anyone who read this repository.",
        "Set ATLASSIAN_CONNECT_ENCRYPTION_KEYS to a key of your own (see E005's hint), then reinstall the app.",
    ),
    "jira_app.E007": (
        f"ENVIRONMENT is not one of {', '.join(ENVIRONMENTS)}: the app key and the production settings follow it.",
        "Set ENVIRONMENT to exactly one of these; prod for any real deployment.",
    ),
    "jira_app.E008": (
        "ATLASSIAN_CONNECT_JWT_LEEWAY must be between 0 and 300 seconds.",
        "Atlassian advises a little leeway, no more than a few minutes; the default is 30.",
    ),
    "jira_app.E009": (
        f"{ROUTES_MIDDLEWARE_PATH} is in MIDDLEWARE but {MIDDLEWARE_PATH} is not in ATLASSIAN_CONNECT_MIDDLEWARE: "
        "the Connect routes would be unauthenticated.",
        f"Add '{MIDDLEWARE_PATH}' to ATLASSIAN_CONNECT_MIDDLEWARE, or remove the setting to get the default chain.",
    ),
    "jira_app.E010": (
        "The database cannot return columns from an INSERT (SQLite older than 3.35): webhook deliveries are stored "
        "with INSERT … ON CONFLICT DO NOTHING RETURNING.",
        "Use PostgreSQL, or a Python linked with SQLite 3.35 or later (python -c 'import sqlite3; "
        "print(sqlite3.sqlite_version)').",
    ),
    # Forge Remote (docs/forge.md): an ID range of its own, so it never meets the Connect checks' numbering.
    "jira_app.E020": (
        "ATLASSIAN_FORGE_APP_ID must be the Forge app's ARI, ari:cloud:ecosystem::app/<uuid>.",
        "Copy app.id from forge/manifest.yml after `forge register`, or leave it unset to refuse every Forge call.",
    ),
    "jira_app.E021": (
        "ATLASSIAN_FORGE_JWKS_URL must be an absolute http(s) URL without query or fragment.",
        "Leave it unset for Forge's JWKS, or point it at fake_jira's Forge platform in tests.",
    ),
    "jira_app.W001": (
        "ATLASSIAN_CONNECT_BASE_URL is not https: Jira Cloud installs only apps served over HTTPS.",
        "Serve the app behind TLS (a tunnel or a proxy) and set the https:// address.",
    ),
    "jira_app.W002": (
        "ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES is on in prod: a tenant can install with a loopback baseUrl and "
        "have the app send signed requests to services on this machine.",
        "Remove ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES (it defaults to false in prod); it exists for fake_jira.",
    ),
    "jira_app.W003": (
        "ATLASSIAN_CONNECT_ALLOWED_HOSTS is empty in prod: a tenant can install with any public host as its baseUrl.",
        "Remove it to get the default, *.atlassian.net and *.jira.com, or list your sites' domains.",
    ),
}


def _message(level: Callable[..., CheckMessage], check_id: str, obj: Any = None) -> CheckMessage:
    msg, hint = MESSAGES[check_id]
    return level(msg, hint=hint, obj=obj, id=check_id)


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.query and not parts.fragment


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not _is_http_url(conf.base_url):
        problems.append(_message(Error, "jira_app.E001"))
    if not _is_http_url(conf.install_keys_url):
        problems.append(_message(Error, "jira_app.E002"))
    middleware = list(getattr(settings, "MIDDLEWARE", []))
    if MIDDLEWARE_PATH not in middleware:
        problems.append(_message(Error, "jira_app.E003"))
    elif CSRF_MIDDLEWARE_PATH in middleware and middleware.index(CSRF_MIDDLEWARE_PATH) < middleware.index(
        MIDDLEWARE_PATH
    ):
        problems.append(_message(Error, "jira_app.E004"))
    if ROUTES_MIDDLEWARE_PATH in middleware and MIDDLEWARE_PATH not in conf.connect_middleware:
        problems.append(_message(Error, "jira_app.E009"))
    keys = conf.encryption_keys
    if not keys or not all(_is_fernet_key(key) for key in keys):
        problems.append(_message(Error, "jira_app.E005"))
    if conf.environment == "prod" and conf.dev_encryption_key in keys:
        problems.append(_message(Error, "jira_app.E006"))
    if conf.environment not in ENVIRONMENTS or not _APP_KEY.fullmatch(conf.app_key):
        problems.append(_message(Error, "jira_app.E007"))
    if not 0 <= conf.jwt_leeway <= 300:
        problems.append(_message(Error, "jira_app.E008"))
    return problems + _forge_problems()


def _forge_problems() -> list[CheckMessage]:
    problems = []
    if conf.forge_app_id and not forge.APP_ARI.fullmatch(conf.forge_app_id):
        problems.append(_message(Error, "jira_app.E020"))
    if not _is_http_url(conf.forge_jwks_url):
        problems.append(_message(Error, "jira_app.E021"))
    return problems


@register(Tags.compatibility)
def check_database(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # A feature of the driver's version, known without connecting.
    from jira_app.models import WebhookDelivery

    connection = connections[router.db_for_write(WebhookDelivery)]
    if not connection.features.can_return_columns_from_insert:
        return [_message(Error, "jira_app.E010", obj=connection.alias)]
    return []


@register(Tags.security, deploy=True)
def check_deploy_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if urlsplit(conf.base_url).scheme != "https":
        problems.append(_message(Warning, "jira_app.W001"))
    if conf.environment == "prod" and conf.allow_loopback_sites:
        problems.append(_message(Warning, "jira_app.W002"))
    if conf.environment == "prod" and not conf.allowed_hosts:
        problems.append(_message(Warning, "jira_app.W003"))
    return problems


def _is_fernet_key(key: str) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True
