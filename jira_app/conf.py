"""A typed view of the settings jira_app reads; the one place it touches ``django.conf.settings``.

Values are read on access, so ``override_settings`` works in tests without extra effort.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
DEFAULT_ALL_JS_URL = "https://connect-cdn.atl-paas.net/all.js"
DEFAULT_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"

# The deployments the app knows: each is part of the app key, and only prod runs without development defaults.
ENVIRONMENTS = ("dev", "test", "prod")
# The domains of Jira Cloud's production sites, as atlassian-connect-express tells them apart (isProductionHost
# in lib/internal/utils.js, https://bitbucket.org/atlassian/atlassian-connect-express/src/master/lib/internal/utils.js).
# Atlassian's own staging sites (*.jira-dev.com) are left out: no customer installs from there.
ATLASSIAN_SITE_HOSTS = ("*.atlassian.net", "*.jira.com")
# What a request carrying a Connect JWT needs: security headers, ALLOWED_HOSTS, the JWT, and DENY framing by
# default. No sessions, CSRF, auth or messages: nothing on these routes reads a cookie.
DEFAULT_CONNECT_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "jira_app.middleware.ConnectJwtMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


class Settings:
    @property
    def environment(self) -> str:
        return str(getattr(settings, "ENVIRONMENT", "dev"))

    @property
    def base_url(self) -> str:
        """The app's public base URL without a trailing slash: descriptor baseUrl and install ``aud``."""
        return str(getattr(settings, "ATLASSIAN_CONNECT_BASE_URL", "http://localhost:8000")).rstrip("/")

    @property
    def base_path(self) -> str:
        """The path part of base_url ("" at the root): request paths are hashed relative to it."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def app_key(self) -> str:
        return f"my-jira-test-app-{self.environment}"

    @property
    def app_name(self) -> str:
        return "my jira test" if self.environment == "prod" else f"my jira test {self.environment}"

    @property
    def install_keys_url(self) -> str:
        return str(getattr(settings, "ATLASSIAN_CONNECT_INSTALL_KEYS_URL", DEFAULT_INSTALL_KEYS_URL))

    @property
    def install_key_timeout(self) -> float:
        """Seconds to wait for the install-key service (connect and read each)."""
        return float(getattr(settings, "ATLASSIAN_CONNECT_INSTALL_KEY_TIMEOUT", 5.0))

    @property
    def install_key_cache_seconds(self) -> int:
        # A rotated Atlassian key always gets a new kid, so a key may be kept long (docs/protocol.md §2).
        return int(getattr(settings, "ATLASSIAN_CONNECT_INSTALL_KEY_CACHE_SECONDS", 24 * 3600))

    @property
    def is_dev_or_test(self) -> bool:
        return self.environment in ("dev", "test")

    @property
    def allowed_hosts(self) -> list[str]:
        """Host patterns a tenant's baseUrl and displayUrl must match on install; empty: any host."""
        default = [] if self.is_dev_or_test else list(ATLASSIAN_SITE_HOSTS)
        return list(getattr(settings, "ATLASSIAN_CONNECT_ALLOWED_HOSTS", default))

    @property
    def allow_loopback_sites(self) -> bool:
        """Whether a tenant site may be on a loopback address (over http too): fake_jira and development only."""
        return bool(getattr(settings, "ATLASSIAN_CONNECT_ALLOW_LOOPBACK_SITES", self.is_dev_or_test))

    @property
    def encryption_keys(self) -> list[str]:
        return list(getattr(settings, "ATLASSIAN_CONNECT_ENCRYPTION_KEYS", []))

    @property
    def dev_encryption_key(self) -> str | None:
        return getattr(settings, "DEV_ENCRYPTION_KEY", None)

    @property
    def jwt_leeway(self) -> int:
        return int(getattr(settings, "ATLASSIAN_CONNECT_JWT_LEEWAY", 30))

    @property
    def all_js_url(self) -> str:
        return str(getattr(settings, "ATLASSIAN_CONNECT_ALL_JS_URL", DEFAULT_ALL_JS_URL))

    @property
    def host_request_timeout(self) -> float:
        """Seconds for a whole outbound call to a tenant's REST API: connect, send, and read every byte."""
        return float(getattr(settings, "ATLASSIAN_CONNECT_HOST_REQUEST_TIMEOUT", 5.0))

    @property
    def host_response_max_bytes(self) -> int:
        """The largest answer read from a tenant's REST API; more is an error, not a truncated answer."""
        return int(getattr(settings, "ATLASSIAN_CONNECT_HOST_RESPONSE_MAX_BYTES", 4 * 1024 * 1024))

    @property
    def jwt_exempt_namespaces(self) -> list[str]:
        """URL namespaces with their own authentication, left alone by ConnectJwtMiddleware."""
        return list(getattr(settings, "ATLASSIAN_CONNECT_JWT_EXEMPT_NAMESPACES", ["admin"]))

    @property
    def connect_middleware(self) -> list[str]:
        """The middleware chain of the Connect routes when ConnectRoutesMiddleware is in MIDDLEWARE."""
        return list(getattr(settings, "ATLASSIAN_CONNECT_MIDDLEWARE", DEFAULT_CONNECT_MIDDLEWARE))

    # --- Forge Remote (docs/forge.md) ---

    @property
    def forge_app_id(self) -> str:
        """The Forge app's ARI (``ari:cloud:ecosystem::app/<uuid>``): the exact ``aud`` of its invocation tokens."""
        return str(getattr(settings, "ATLASSIAN_FORGE_APP_ID", ""))

    @property
    def forge_jwks_url(self) -> str:
        """Where Forge publishes the keys it signs invocation tokens with; never taken from a token."""
        return str(getattr(settings, "ATLASSIAN_FORGE_JWKS_URL", DEFAULT_FORGE_JWKS_URL))

    @property
    def forge_jwks_cache_seconds(self) -> int:
        """How long a fetched key set is used before it is fetched again (a retired key stops working then)."""
        return int(getattr(settings, "ATLASSIAN_FORGE_JWKS_CACHE_SECONDS", 300))

    @property
    def forge_jwks_min_refresh_seconds(self) -> float:
        """The least time between two fetches: a flood of unknown kids costs Atlassian one request per period."""
        return float(getattr(settings, "ATLASSIAN_FORGE_JWKS_MIN_REFRESH_SECONDS", 30))


conf = Settings()
