"""The project settings per environment, each case in a fresh interpreter (settings are read once, at import).

``manage.py check --deploy --fail-level WARNING`` is what gunicorn.conf.py runs before serving in prod, so these
tests pin what a production start accepts and what it refuses.
"""

from __future__ import annotations

import json

import pytest

import mysite.settings as project_settings
from tests.mysite.processes import manage, prod_env, run_python


def test_prod_with_real_values_passes_the_deploy_checks_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env())

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""


def test_prod_settings_trust_the_proxy_for_https_and_read_hosts_from_the_environment():
    code = (
        "import json, mysite.settings as s; print(json.dumps([s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS, s.DEBUG]))"
    )
    result = run_python("-c", code, env=prod_env(ALLOWED_HOSTS="a.example.com,b.example.com"))

    assert result.returncode == 0, result.stderr
    proxy_header, redirect, hsts, session_secure, csrf_secure, hosts, debug = json.loads(result.stdout)
    assert proxy_header == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (redirect, session_secure, csrf_secure, debug) == (True, True, True, False)
    assert hsts >= 365 * 24 * 3600  # Marketplace security requirement: HSTS of at least one year
    assert hosts == ["a.example.com", "b.example.com"]


@pytest.mark.parametrize("variable", ["SECRET_KEY", "ATLASSIAN_CONNECT_ENCRYPTION_KEYS"])
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_prod_refuses_to_start_without_a_required_secret(variable, value):
    result = manage("check", env=prod_env(**{variable: value}))

    assert result.returncode != 0
    assert f"ImproperlyConfigured: Set the {variable} environment variable" in result.stderr


def test_prod_refuses_the_development_secret_key():
    result = manage("check", env=prod_env(SECRET_KEY=project_settings._DEV_SECRET_KEY))

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is the development placeholder" in result.stderr


def test_prod_with_the_public_development_encryption_key_fails_the_checks():
    result = manage("check", env=prod_env(ATLASSIAN_CONNECT_ENCRYPTION_KEYS=project_settings.DEV_ENCRYPTION_KEY))

    assert result.returncode == 1
    assert "jira_app.E006" in result.stderr


@pytest.mark.parametrize(
    ("override", "check_id"),
    [
        ({"ATLASSIAN_CONNECT_BASE_URL": "http://jira-app.example.com"}, "jira_app.W001"),
        ({"DEBUG": "true"}, "security.W018"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES": "true"}, "jira_app.W002"),
        ({"ATLASSIAN_CONNECT_ALLOWED_HOSTS": ""}, "jira_app.W003"),
    ],
)
def test_the_deploy_checks_catch_a_weakened_prod_setting(override, check_id):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env(**override))

    assert result.returncode == 1
    assert check_id in result.stderr


def test_dev_defaults_pass_the_checks():
    result = manage("check", env={})

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_app_log_escapes_a_newline_from_a_tenant_field():
    # The refusal line for a body whose eventType holds a newline: a tenant may send one after a valid signature.
    code = (
        "import django; django.setup(); from django.test import RequestFactory; "
        "from jira_app import exceptions, middleware; "
        "middleware.refuse(RequestFactory().post('/jira/enabled'), exceptions.BadLifecyclePayload("
        "\"eventType 'x\\n2026-11-30 12:00:00,000 ERROR jira_app.security forged' was sent to enabled\"))"
    )
    result = run_python("-c", code, env={"DJANGO_SETTINGS_MODULE": "mysite.settings"})

    assert result.returncode == 0, result.stderr
    assert "eventType 'x\\n2026-11-30 12:00:00,000 ERROR jira_app.security forged'" in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("2026-11-30 12:00:00,000")]


@pytest.mark.parametrize("value", ["staging", "production", "Prod", "PROD", " prod", ""])
def test_an_unknown_environment_refuses_to_start_and_lists_the_known_ones(value):
    result = manage("check", env=prod_env(ENVIRONMENT=value))

    assert result.returncode != 0
    assert f"ImproperlyConfigured: ENVIRONMENT={value!r} is not one of dev, test, prod" in result.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": "not-a-url"}, "DATABASE_URL is not a SQLite or PostgreSQL URL: set it to e.g. postgres://"),
        ({"DATABASE_URL": "mysql://db.example.com/app"}, "DATABASE_URL is not a SQLite or PostgreSQL URL"),
        ({"ATLASSIAN_CONNECT_JWT_LEEWAY": "abc"}, "ATLASSIAN_CONNECT_JWT_LEEWAY='abc' is not a whole number"),
        ({"CONN_MAX_AGE": "1m"}, "CONN_MAX_AGE='1m' is not a whole number"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it_and_the_fix(variables, message):
    result = manage("check", env=variables)

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_a_postgres_url_without_the_driver_says_how_to_install_it():
    # As if the postgres extra were not installed: the import system finds no psycopg.
    code = "import sys; sys.modules['psycopg'] = None; import mysite.settings"
    result = run_python("-c", code, env={"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/app"})

    assert result.returncode != 0
    assert "DATABASE_URL names PostgreSQL, but its driver (psycopg) is not installed: pip install -e '.[postgres]'" in (
        result.stderr
    )


def test_outside_dev_and_test_sites_must_be_on_atlassian_domains_and_never_on_loopback():
    code = (
        "import json, mysite.settings as s; "
        "print(json.dumps([s.ATLASSIAN_CONNECT_ALLOWED_HOSTS, s.ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES]))"
    )
    prod = run_python("-c", code, env=prod_env())
    dev = run_python("-c", code, env={})

    assert json.loads(prod.stdout) == [["*.atlassian.net", "*.jira.com"], False]
    assert json.loads(dev.stdout) == [[], True]
