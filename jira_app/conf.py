"""A typed view of the settings jira_app reads; the one place it touches ``django.conf.settings``.

Values are read on access, so ``override_settings`` works in tests without extra effort.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
DEFAULT_ALL_JS_URL = "https://connect-cdn.atl-paas.net/all.js"


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
    def allowed_hosts(self) -> list[str]:
        return list(getattr(settings, "ATLASSIAN_CONNECT_ALLOWED_HOSTS", []))

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
        """Seconds for each outbound call to a tenant's REST API (connect and read each)."""
        return float(getattr(settings, "ATLASSIAN_CONNECT_HOST_REQUEST_TIMEOUT", 5.0))

    @property
    def jwt_exempt_namespaces(self) -> list[str]:
        """URL namespaces with their own authentication, left alone by ConnectJwtMiddleware."""
        return list(getattr(settings, "ATLASSIAN_CONNECT_JWT_EXEMPT_NAMESPACES", ["admin"]))


conf = Settings()
