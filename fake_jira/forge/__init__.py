"""fake_jira playing the Forge platform for a Connect-on-Forge app with a Forge Remote (docs/forge.md).

``ForgeJira`` is a FakeJira that also serves Forge's JWKS and its API gateway (``apiBaseUrl``), so the same
``ResponsesRouter`` (in process) and HTTP server (loopback) carry Forge traffic too. Its ``forge`` platform
installs the app (a Connect install carrying ``installationId``, then the ``avi:forge:installed:app``
trigger, retried as Forge retries), invokes remote endpoints with a Forge Invocation Token and the
``x-forge-oauth-*`` headers, and rotates its signing keys.
"""

from __future__ import annotations

from fake_jira.forge.platform import ForgeApp, ForgeInstallation, ForgeJira, ForgePlatform, forge_app_env

__all__ = ["ForgeApp", "ForgeInstallation", "ForgeJira", "ForgePlatform", "forge_app_env"]
