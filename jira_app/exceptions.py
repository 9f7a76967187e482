"""What can go wrong with a Connect request, each with its HTTP status and a stable reason code.

The middleware turns any ConnectError into a response (jira_app.middleware) and logs the reason code on the
``jira_app.security`` logger. Messages say what went wrong and how to fix it; they never contain a token or
a secret.
"""

from __future__ import annotations


class ConnectError(Exception):
    """Base class: ``status`` is the HTTP status, ``reason`` the code logged and (unless ``disclosed`` says
    otherwise) returned."""

    status = 401
    reason = "invalid_token"
    # (reason, message) the client gets instead of the precise ones, which then stay in the log only.
    disclosed: tuple[str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def client_reason(self) -> str:
        return self.disclosed[0] if self.disclosed else self.reason

    @property
    def client_message(self) -> str:
        return self.disclosed[1] if self.disclosed else self.message


class AuthenticationFailed(ConnectError):
    """The request does not carry a valid token for a known, active tenant."""


class MissingToken(AuthenticationFailed):
    reason = "missing_token"


class MalformedToken(AuthenticationFailed):
    reason = "malformed_token"


class WrongAlgorithm(AuthenticationFailed):
    reason = "wrong_algorithm"


# An unknown clientKey and a bad signature look the same to the client: else anyone could tell which
# clientKeys have the app installed by sending unsigned tokens.
_NOT_VERIFIABLE = (
    "invalid_token",
    "the token does not verify: it must be signed by an installed Jira site, or by Atlassian for installs",
)


class InvalidSignature(AuthenticationFailed):
    reason = "bad_signature"
    disclosed = _NOT_VERIFIABLE


class ExpiredToken(AuthenticationFailed):
    reason = "expired"


class InvalidClaims(AuthenticationFailed):
    reason = "bad_claims"


class QshMismatch(AuthenticationFailed):
    reason = "qsh_mismatch"


class ContextTokenRefused(AuthenticationFailed):
    reason = "context_token_refused"


class UnknownHost(AuthenticationFailed):
    reason = "unknown_host"
    disclosed = _NOT_VERIFIABLE


class InactiveHost(AuthenticationFailed):
    reason = "inactive_host"


class InvalidKeyId(AuthenticationFailed):
    reason = "bad_kid"


class UnknownInstallKey(AuthenticationFailed):
    reason = "unknown_kid"


class ClientKeyMismatch(AuthenticationFailed):
    reason = "client_key_mismatch"


class ReplayedToken(AuthenticationFailed):
    """An install or uninstall token already accepted with another body."""

    reason = "replayed_token"


class InstallKeyServiceUnavailable(ConnectError):
    """The install-key service could not vouch for a key: retry later (Jira lets the admin retry)."""

    status = 503
    reason = "key_service_unavailable"


class BadLifecyclePayload(ConnectError):
    status = 400
    reason = "bad_payload"


class HostNotAllowed(ConnectError):
    """The tenant's baseUrl is outside ATLASSIAN_CONNECT_ALLOWED_HOSTS."""

    status = 400
    reason = "host_not_allowed"


class BadWebhookPayload(ConnectError):
    status = 400
    reason = "bad_webhook"
