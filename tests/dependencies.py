"""What the suite needs from outside Python (PostgreSQL, psycopg): under CI a missing part fails the run;
locally its tests skip with a message saying how to get it.

CI sets ``CI=true`` (GitHub Actions, GitLab CI and the project's ``.ci/run`` all do). ``noxfile.py`` applies the
same rule to ``nox -s tests_postgres`` before pytest starts.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import NoReturn

import pytest
from django.conf import settings

POSTGRES_ENGINE = "django.db.backends.postgresql"
HOW_TO_GET_POSTGRES = (
    "run `nox -s tests_postgres` with a PostgreSQL server at 127.0.0.1:5432 (user postgres, trust), or set "
    "DATABASE_URL=postgres://user@host:5432/name and install the postgres extra: pip install -e '.[test,postgres]'"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, how: str) -> NoReturn:
    """Stop the current test for lack of ``what``: a failure under CI, a skip saying ``how`` to get it locally."""
    message = f"{what} is missing: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI is set, so a missing dependency fails the run instead of skipping)", pytrace=False)
    pytest.skip(message)


def is_postgres_run() -> bool:
    """Whether this run's database is PostgreSQL (DATABASE_URL), as pytest-django configured it."""
    return bool(settings.DATABASES["default"]["ENGINE"] == POSTGRES_ENGINE)


def import_psycopg() -> ModuleType:
    try:
        import psycopg
    except ImportError:
        missing("psycopg (the postgres extra)", HOW_TO_GET_POSTGRES)
    return psycopg
