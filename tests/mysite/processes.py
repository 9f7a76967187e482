"""Run the project in a fresh interpreter with a chosen environment: settings are read once, at import."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
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


STARTUP_SECONDS = 60  # a deadline, not an estimate: on a loaded 2-core machine gunicorn has taken over 10 s
_ATTEMPT_SECONDS = 2


def wait_until_serving(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    *,
    headers: dict[str, str] | None = None,
    seconds: float = STARTUP_SECONDS,
) -> None:
    """Return once GET ``url`` gets an HTTP answer below 500; fail the test if ``process`` exits first or
    ``seconds`` pass. A refused, reset or slow connection is a server still starting, so it is tried again."""
    deadline = time.monotonic() + seconds
    last = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server for {url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            status = requests.get(url, headers=headers, timeout=_ATTEMPT_SECONDS, allow_redirects=False).status_code
        except (requests.RequestException, OSError) as exc:  # timeouts and resets included
            last = type(exc).__name__
        else:
            if status < 500:
                return
            last = f"HTTP {status}"
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds:g} s (last: {last}):\n{log.read_text()}")


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, *args], cwd=ROOT, env=environment(env), capture_output=True, text=True, timeout=120
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python("manage.py", *args, env=env)
