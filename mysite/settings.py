"""Settings for jira-connect-django, read from the environment (django-environ).

Every variable is listed in the README and in ../docs/deploy.md. ``ENVIRONMENT=prod`` switches on the
production settings that ``manage.py check --deploy`` examines, and refuses to start without real keys.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from jira_app.conf import ATLASSIAN_SITE_HOSTS, ENVIRONMENTS

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is read only on request, and the real environment wins over it.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Which deployment this is ---------------------------------------------------------------------------
# Part of the app key and name in the descriptor (jira_app.descriptor); "prod" enables production settings.
# Read strictly: a deployment that says "production" or "staging" must not run on the development defaults.
ENVIRONMENT = env.str("ENVIRONMENT", default="dev")
if ENVIRONMENT not in ENVIRONMENTS:
    raise ImproperlyConfigured(
        f"ENVIRONMENT={ENVIRONMENT!r} is not one of {', '.join(ENVIRONMENTS)}: set it to one of these exactly "
        "(prod for any real deployment)."
    )
IS_PROD = ENVIRONMENT == "prod"


def _int(name: str, default: int) -> int:
    """An integer variable; anything else stops start-up with a message naming the variable."""
    raw = env.str(name, default=str(default))
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number: set it to one, e.g. {default}.") from None


# The Fernet key below is public (it is in this file); it exists so that a fresh clone runs without setup.
# Production must set ATLASSIAN_CONNECT_ENCRYPTION_KEYS, and check jira_app.E006 refuses this key there.
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktaW5zZWN1cmUta2V5LWRvLW5vdC11c2U="
_DEV_SECRET_KEY = "!!! dev only: set SECRET_KEY in the environment for any real deployment !!!"  # noqa: S105


def _required_in_prod(dev_default: object) -> dict[str, object]:
    """Keyword arguments for env(): no default in prod, so a missing variable stops start-up."""
    return {} if IS_PROD else {"default": dev_default}


# --- Django core ----------------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = env.str("SECRET_KEY", **_required_in_prod(_DEV_SECRET_KEY))
if IS_PROD and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the development placeholder: set a real one for ENVIRONMENT=prod.")

# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DEBUG", default=False)

# --- Atlassian Connect (README.md, Settings; docs/protocol.md) ----------------------------------------------
ATLASSIAN_CONNECT_BASE_URL = env.str("ATLASSIAN_CONNECT_BASE_URL", default="http://localhost:8000")
ATLASSIAN_CONNECT_INSTALL_KEYS_URL = env.str(
    "ATLASSIAN_CONNECT_INSTALL_KEYS_URL", default="https://connect-install-keys.atlassian.com"
)
# Host patterns (fnmatch) a tenant's baseUrl and displayUrl must match on install; empty: any host. Outside dev and
# test the default is the domains of Jira Cloud sites (jira_app.conf.ATLASSIAN_SITE_HOSTS).
ATLASSIAN_CONNECT_ALLOWED_HOSTS = env.list(
    "ATLASSIAN_CONNECT_ALLOWED_HOSTS", default=list(ATLASSIAN_SITE_HOSTS) if IS_PROD else []
)
# Lets a tenant site live on a loopback address, over http too: for fake_jira and development, never production.
ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES = env.bool("ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES", default=not IS_PROD)
# Fernet keys for sharedSecret at rest: the first encrypts, every key decrypts (rotate by prepending).
ATLASSIAN_CONNECT_ENCRYPTION_KEYS = env.list(
    "ATLASSIAN_CONNECT_ENCRYPTION_KEYS", **_required_in_prod([DEV_ENCRYPTION_KEY])
)
# Clock skew tolerated on exp/iat of incoming tokens, in seconds (Atlassian's Spring Boot framework: 30 s).
ATLASSIAN_CONNECT_JWT_LEEWAY = _int("ATLASSIAN_CONNECT_JWT_LEEWAY", 30)
# Atlassian's JavaScript bridge; all.js must come from the Connect CDN, never from xdm_e (docs/protocol.md §7).
ATLASSIAN_CONNECT_ALL_JS_URL = env.str(
    "ATLASSIAN_CONNECT_ALL_JS_URL", default="https://connect-cdn.atl-paas.net/all.js"
)

# --- Forge Remote (docs/forge.md) -------------------------------------------------------------------------
# The Forge app's ARI from `forge register` (ari:cloud:ecosystem::app/<uuid>); unset, every Forge call is refused.
ATLASSIAN_FORGE_APP_ID = env.str("ATLASSIAN_FORGE_APP_ID", default="")
# Where Forge publishes its invocation-token keys; a setting, never a URL taken from a token.
ATLASSIAN_FORGE_JWKS_URL = env.str(
    "ATLASSIAN_FORGE_JWKS_URL", default="https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
)
# How long a fetched key set is used before it is fetched again; a key Forge retires works until then (seconds).
ATLASSIAN_FORGE_JWKS_CACHE_SECONDS = env.int("ATLASSIAN_FORGE_JWKS_CACHE_SECONDS", default=300)
# The least time between two key-set fetches, however many unknown kids arrive (seconds).
ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS = env.float("ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS", default=30.0)

_base_host = urlsplit(ATLASSIAN_CONNECT_BASE_URL).hostname or "localhost"

# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[_base_host] if IS_PROD else [_base_host, "localhost", "127.0.0.1", "[::1]", "testserver"],
)
CSRF_TRUSTED_ORIGINS = [ATLASSIAN_CONNECT_BASE_URL.rstrip("/")]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "jira_app",
]

MIDDLEWARE = [
    # Requests under /jira/ leave the chain here for ATLASSIAN_CONNECT_MIDDLEWARE (jira_app.conf's default:
    # security headers, ALLOWED_HOSTS, the JWT, framing), the rest is the admin's chain below.
    "jira_app.middleware.ConnectRoutesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CsrfViewMiddleware: a request authenticated by a Connect JWT carries no cookie to forge.
    "jira_app.middleware.ConnectJwtMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mysite" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
_DATABASE_ENGINES = {"django.db.backends.sqlite3": None, "django.db.backends.postgresql": "psycopg"}


def _database(url: str) -> dict[str, Any]:
    """DATABASE_URL as Django's DATABASES entry; an unusable URL stops start-up with the fix."""
    config: dict[str, Any] = env.db_url_config(url) if "://" in url else {}
    engine = config.get("ENGINE")
    if engine not in _DATABASE_ENGINES:
        raise ImproperlyConfigured(
            "DATABASE_URL is not a SQLite or PostgreSQL URL: set it to e.g. postgres://user:password@host:5432/name, "
            "or leave it empty for the SQLite file in the project folder."
        )
    driver = _DATABASE_ENGINES[engine]
    if driver is not None and importlib.util.find_spec(driver) is None:
        raise ImproperlyConfigured(
            f"DATABASE_URL names PostgreSQL, but its driver ({driver}) is not installed: "
            "pip install -e '.[postgres]' (or pip install 'psycopg[binary]')."
        )
    return config


# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
# An empty DATABASE_URL counts as unset: the embedded SQLite file is the default.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": _database(DATABASE_URL)}
# Persistent connections: a new connection per request costs more than the JWT check it serves.
DATABASES["default"]["CONN_MAX_AGE"] = _int("CONN_MAX_AGE", 60)
# A health check is a round trip before every request (PostgreSQL page loads: b/a 0.50 with it, 0.62 without,
# benchmarks/README.md). Without it, a connection that died between requests fails one request, then is replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue for the lock instead of failing with "database is locked" when two installs meet.
    # Write-ahead log, still synced at every commit (FULL): a commit costs one fsync instead of the rollback
    # journal's several (3x the webhook deliveries per second, benchmarks/README.md), and readers never wait
    # for a writer. NORMAL would be faster again but may lose the last commits on power loss: a rotated secret.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation and static files --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic's target, served by WhiteNoise in prod; outside prod the files come from the apps directly.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")) if IS_PROD else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside prod WhiteNoise serves straight from the apps, so the admin works without collectstatic.
WHITENOISE_USE_FINDERS = not IS_PROD

# --- Security -------------------------------------------------------------------------------------------
# Exactly the settings Django's `check --deploy` examines (cookiecutter-django does the same).
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"  # the Connect pages opt out per response, for their tenant only (jira_app.framing)
if IS_PROD:
    # "SECRET_KEY=" in an env file is as good as unset; without this, prod would start and fail on use.
    for _name, _value in [
        ("SECRET_KEY", SECRET_KEY),
        ("ATLASSIAN_CONNECT_ENCRYPTION_KEYS", ATLASSIAN_CONNECT_ENCRYPTION_KEYS),
    ]:
        if not _value:
            raise ImproperlyConfigured(
                f"Set the {_name} environment variable: it is empty, and ENVIRONMENT=prod needs a real value."
            )
    # A tunnel or load balancer terminates TLS and says so in X-Forwarded-Proto; the proxy must overwrite
    # that header, because Django trusts it (docs/deploy.md).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 31_536_000)  # Marketplace: at least 1 year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging --------------------------------------------------------------------------------------------
# jira_app.security carries one line per refused request: a reason code and the client key, never a token.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Escaping: a newline in a request path or a tenant's baseUrl must not start a forged line (jira_app.log).
    "formatters": {
        "plain": {"()": "jira_app.log.EscapingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "jira_app": {"level": env.str("JIRA_APP_LOG_LEVEL", default="INFO")},
        "django.security": {"level": "WARNING"},
    },
}
