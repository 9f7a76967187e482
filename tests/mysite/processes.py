"""Run the project in a fresh interpreter with a chosen environment: settings are read once, at import."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
# Everything the settings and gunicorn.conf.py read, so the developer's own environment cannot change a result.
_OWN_VARIABLES = {"ENVIRONMENT", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "CONN_MAX_AGE", "STATIC_ROOT"}
_OWN_VARIABLES |= {"PORT", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"}
_OWN_PREFIXES = ("ATLASSIAN_CONNECT_", "SECURE_", "DJANGO_", "JIRA_APP_", "GUNICORN_")


def environment(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without the project's variables, plus ``variables``."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name not in _OWN_VARIABLES and not name.startswith(_OWN_PREFIXES)
    }
    return {**kept, **variables}


def prod_env(**overrides: str | None) -> dict[str, str]:
    """Production variables with real values; an override of None leaves that variable unset."""
    values: dict[str, str | None] = {
        "ENVIRONMENT": "prod",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ATLASSIAN_CONNECT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ATLASSIAN_CONNECT_BASE_URL": "https://jira-app.example.com",
        "ALLOWED_HOSTS": "jira-app.example.com",
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, *args], cwd=ROOT, env=environment(env), capture_output=True, text=True, timeout=120
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python("manage.py", *args, env=env)
