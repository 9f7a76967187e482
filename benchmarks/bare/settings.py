"""Settings of the bare Django project: as little as Django runs with."""

from __future__ import annotations

SECRET_KEY = "bare-django-benchmark-only"  # noqa: S105 (signs nothing: no sessions, no middleware)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "benchmarks.bare.urls"
WSGI_APPLICATION = "benchmarks.bare.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
