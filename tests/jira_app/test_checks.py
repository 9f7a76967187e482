"""System checks: each misconfiguration of jira_app's settings is caught by `manage.py check`, by its own ID."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Error, Tags, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from jira_app import checks
from jira_app.checks import CSRF_MIDDLEWARE_PATH, MESSAGES, MIDDLEWARE_PATH

OWN_KEY = Fernet.generate_key().decode()


def jira_app_messages(*, deploy: bool = False) -> list:
    # jira_app's checks carry the security tag; the rest (model checks) need the database since Django 6.1.
    found = run_checks(tags=[Tags.security], include_deployment_checks=deploy)
    return [m for m in found if (m.id or "").startswith("jira_app")]


def jira_app_ids(*, deploy: bool = False) -> set[str]:
    return {m.id for m in jira_app_messages(deploy=deploy)}


def without_jwt_middleware(settings) -> list[str]:
    return [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]


def jwt_middleware_after_csrf(settings) -> list[str]:
    rest = without_jwt_middleware(settings)
    csrf = rest.index(CSRF_MIDDLEWARE_PATH)
    return [*rest[: csrf + 1], MIDDLEWARE_PATH, *rest[csrf + 1 :]]


def dev_key_only(settings) -> list[str]:
    return [settings.DEV_ENCRYPTION_KEY]


def own_key_then_dev_key(settings) -> list[str]:
    return [OWN_KEY, settings.DEV_ENCRYPTION_KEY]


# Each case breaks one setting (a callable computes the value from the current settings);
# the expected value is the exact set of jira_app IDs `check` must report.
MISCONFIGURATIONS = {
    "base url without scheme": ({"ATLASSIAN_CONNECT_BASE_URL": "app.example.test"}, {"jira_app.E001"}),
    "base url not http(s)": ({"ATLASSIAN_CONNECT_BASE_URL": "ftp://app.example.test"}, {"jira_app.E001"}),
    "base url with query": ({"ATLASSIAN_CONNECT_BASE_URL": "https://app.example.test/?x=1"}, {"jira_app.E001"}),
    "base url with fragment": ({"ATLASSIAN_CONNECT_BASE_URL": "https://app.example.test/#top"}, {"jira_app.E001"}),
    "keys url not http(s)": ({"ATLASSIAN_CONNECT_INSTALL_KEYS_URL": "file:///etc/keys"}, {"jira_app.E002"}),
    "keys url relative": ({"ATLASSIAN_CONNECT_INSTALL_KEYS_URL": "/keys"}, {"jira_app.E002"}),
    "keys url with query": (
        {"ATLASSIAN_CONNECT_INSTALL_KEYS_URL": "https://keys.example.test/?kid="},
        {"jira_app.E002"},
    ),
    "jwt middleware missing": ({"MIDDLEWARE": without_jwt_middleware}, {"jira_app.E003"}),
    "jwt middleware after csrf": ({"MIDDLEWARE": jwt_middleware_after_csrf}, {"jira_app.E004"}),
    "connect routes' chain without the jwt middleware": (
        {"ATLASSIAN_CONNECT_MIDDLEWARE": ["django.middleware.security.SecurityMiddleware"]},
        {"jira_app.E009"},
    ),
    "no encryption key": ({"ATLASSIAN_CONNECT_ENCRYPTION_KEYS": []}, {"jira_app.E005"}),
    "encryption key not fernet": ({"ATLASSIAN_CONNECT_ENCRYPTION_KEYS": ["not-a-fernet-key"]}, {"jira_app.E005"}),
    "one bad key among good ones": (
        {"ATLASSIAN_CONNECT_ENCRYPTION_KEYS": [OWN_KEY, "c2hvcnQ="]},
        {"jira_app.E005"},
    ),
    "prod with the public dev key": (
        {"ENVIRONMENT": "prod", "ATLASSIAN_CONNECT_ENCRYPTION_KEYS": dev_key_only},
        {"jira_app.E006"},
    ),
    "prod with the dev key kept for rotation": (
        {"ENVIRONMENT": "prod", "ATLASSIAN_CONNECT_ENCRYPTION_KEYS": own_key_then_dev_key},
        {"jira_app.E006"},
    ),
    "environment with spaces": ({"ENVIRONMENT": "my env"}, {"jira_app.E007"}),
    "environment staging": ({"ENVIRONMENT": "staging"}, {"jira_app.E007"}),
    "environment production": ({"ENVIRONMENT": "production"}, {"jira_app.E007"}),
    "environment Prod": ({"ENVIRONMENT": "Prod"}, {"jira_app.E007"}),
    "environment too long for an app key": ({"ENVIRONMENT": "x" * 60}, {"jira_app.E007"}),
    "negative leeway": ({"ATLASSIAN_CONNECT_JWT_LEEWAY": -1}, {"jira_app.E008"}),
    "leeway over five minutes": ({"ATLASSIAN_CONNECT_JWT_LEEWAY": 301}, {"jira_app.E008"}),
    "forge app id not an app ARI": (
        {"ATLASSIAN_FORGE_APP_ID": "406d303d-0393-4ec4-ad7c-1435be94583a"},
        {"jira_app.E020"},
    ),
    "forge jwks url from a file": ({"ATLASSIAN_FORGE_JWKS_URL": "file:///etc/jwks.json"}, {"jira_app.E021"}),
}


def apply(settings, overrides: dict) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value(settings) if callable(value) else value)


def test_default_test_settings_pass_every_check():
    assert jira_app_ids() == set()


@pytest.mark.parametrize(("overrides", "expected"), MISCONFIGURATIONS.values(), ids=MISCONFIGURATIONS.keys())
def test_each_misconfiguration_is_reported_by_its_own_id(settings, overrides, expected):
    apply(settings, overrides)
    assert jira_app_ids() == expected


@pytest.mark.parametrize(("overrides", "expected"), MISCONFIGURATIONS.values(), ids=MISCONFIGURATIONS.keys())
def test_reported_problems_are_errors_with_the_documented_message_and_hint(settings, overrides, expected):
    apply(settings, overrides)
    found = jira_app_messages()

    for message in found:
        assert isinstance(message, Error)
        assert (message.msg, message.hint) == MESSAGES[message.id]


def test_http_base_url_is_only_a_deployment_warning(settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = "http://app.example.test"

    assert jira_app_ids() == set()
    deploy = jira_app_messages(deploy=True)
    assert [m.id for m in deploy] == ["jira_app.W001"]
    assert isinstance(deploy[0], Warning)
    assert not isinstance(deploy[0], Error)
    assert deploy[0].hint == MESSAGES["jira_app.W001"][1]


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES": True}, "jira_app.W002"),
        ({"ATLASSIAN_CONNECT_ALLOWED_HOSTS": []}, "jira_app.W003"),
    ],
)
def test_prod_that_lets_tenants_reach_more_than_atlassian_sites_is_a_deployment_warning(settings, overrides, check_id):
    settings.ENVIRONMENT = "prod"
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [OWN_KEY]
    settings.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = False
    settings.ATLASSIAN_CONNECT_ALLOWED_HOSTS = ["*.atlassian.net"]
    assert jira_app_ids(deploy=True) == set()

    apply(settings, overrides)

    deploy = jira_app_messages(deploy=True)
    assert [(m.id, m.hint) for m in deploy] == [(check_id, MESSAGES[check_id][1])]
    assert isinstance(deploy[0], Warning)


def test_https_base_url_passes_the_deployment_checks():
    assert jira_app_ids(deploy=True) == set()


@pytest.mark.parametrize("leeway", [0, 300])
def test_leeway_bounds_are_allowed(settings, leeway):
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = leeway
    assert jira_app_ids() == set()


def test_prod_with_its_own_key_passes(settings):
    settings.ENVIRONMENT = "prod"
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [OWN_KEY]
    assert jira_app_ids() == set()


def test_dev_may_use_the_dev_key(settings):
    settings.ENVIRONMENT = "dev"
    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = [settings.DEV_ENCRYPTION_KEY]
    assert jira_app_ids() == set()


def test_jwt_middleware_without_csrf_middleware_is_fine(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != CSRF_MIDDLEWARE_PATH]
    assert jira_app_ids() == set()


def test_several_problems_are_reported_together(settings):
    settings.ATLASSIAN_CONNECT_BASE_URL = "nope"
    settings.ATLASSIAN_CONNECT_JWT_LEEWAY = 3600
    settings.MIDDLEWARE = without_jwt_middleware(settings)
    assert jira_app_ids() == {"jira_app.E001", "jira_app.E003", "jira_app.E008"}


def test_a_database_that_cannot_return_inserted_columns_is_an_error(monkeypatch):
    def database_ids() -> list[str]:
        return [m.id for m in run_checks(tags=[Tags.compatibility]) if (m.id or "").startswith("jira_app")]

    assert database_ids() == []

    # SQLite before 3.35, as Django reads its version: no RETURNING.
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    (message,) = [m for m in run_checks(tags=[Tags.compatibility]) if m.id == "jira_app.E010"]
    assert isinstance(message, Error)
    assert (message.msg, message.hint, message.obj) == (*MESSAGES["jira_app.E010"], "default")
    assert database_ids() == ["jira_app.E010"]


def test_every_documented_id_is_produced_by_some_misconfiguration():
    # Each has a test of its own: the warnings are deployment checks, E010 is the database's.
    own_tests = {"jira_app.W001", "jira_app.W002", "jira_app.W003", "jira_app.E010"}
    produced = set().union(*(expected for _, expected in MISCONFIGURATIONS.values())) | own_tests
    assert produced == set(MESSAGES)


def test_ids_are_well_formed_unique_and_each_has_a_message_and_hint():
    # A dict literal silently keeps the last of two equal keys: read the source to catch a reused ID.
    tree = ast.parse(inspect.getsource(checks))
    literal = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MESSAGES" for t in node.targets)
    )
    ids = [key.value for key in literal.keys]
    assert len(ids) == len(set(ids)) == len(MESSAGES)
    for check_id, (message, hint) in MESSAGES.items():
        assert re.fullmatch(r"jira_app\.[EW]\d{3}", check_id)
        assert message.strip()
        assert hint.strip()
    assert len({message for message, _ in MESSAGES.values()}) == len(MESSAGES)


# The whole `check` command runs model checks too, which since Django 6.1 ask the database about its features.
@pytest.mark.django_db
def test_manage_py_check_fails_on_a_broken_setting(settings):
    call_command("check")  # the test settings are fine

    settings.ATLASSIAN_CONNECT_ENCRYPTION_KEYS = []
    with pytest.raises(SystemCheckError, match=r"jira_app\.E005"):
        call_command("check")
