"""The lifecycle as Jira drives it: install, disable and enable, uninstall, reinstall, secret rotation."""

from __future__ import annotations

from fake_jira.conformance.core import (
    CALLBACK_OK,
    SIGNED_INSTALL_FIX,
    Case,
    CaseResult,
    Conformance,
    Skipped,
    Step,
)
from fake_jira.descriptor import ConnectApp
from fake_jira.tokens import Forgery


def cases(app: ConnectApp) -> list[Case | Skipped]:
    def install(c: Conformance) -> CaseResult:
        site = c.fake.add_site(c.site_name("newcomer"))
        steps: list[Step] = [("installed", lambda: site.install(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=True), SIGNED_INSTALL_FIX)

    def disabled(c: Conformance) -> CaseResult:
        site = c.new_site("disabled")
        steps: list[Step] = [("disabled", lambda: site.disable(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=False), "refuse a disabled tenant's tokens with 401")

    def enabled(c: Conformance) -> CaseResult:
        site = c.new_site("reenabled")
        steps: list[Step] = [
            ("disabled", lambda: site.disable(app), CALLBACK_OK),
            ("enabled", lambda: site.enable(app), CALLBACK_OK),
        ]
        return c.expect(steps + c.everywhere(site, works=True), "accept the tenant's tokens again after enabled")

    def uninstalled(c: Conformance) -> CaseResult:
        site = c.new_site("uninstalled")
        steps: list[Step] = [("uninstalled", lambda: site.uninstall(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=False), "refuse an uninstalled tenant's tokens with 401")

    def reinstalled(c: Conformance) -> CaseResult:
        site = c.new_site("reinstalled")
        steps: list[Step] = [
            ("uninstalled", lambda: site.uninstall(app), CALLBACK_OK),
            ("installed", lambda: site.install(app), CALLBACK_OK),
        ]
        return c.expect(steps + c.everywhere(site, works=True), "a new signed install revives an uninstalled tenant")

    def rotation_new(c: Conformance) -> CaseResult:
        site = c.new_site("rotated")
        steps: list[Step] = [("reinstalled", lambda: site.reinstall(app), CALLBACK_OK)]
        return c.expect(steps + c.everywhere(site, works=True), "store the sharedSecret each install brings")

    def rotation_old(c: Conformance) -> CaseResult:
        site = c.new_site("rotated")
        steps: list[Step] = [("reinstalled", lambda: site.reinstall(app), CALLBACK_OK)]
        steps += c.everywhere(site, works=False, forgery=Forgery.PREVIOUS_SECRET)
        return c.expect(steps, "replace the stored secret on reinstall, for every process, before answering")

    cases: list[Case | Skipped] = [
        Case("install", "a genuine signed install is accepted, and the tenant's tokens then work", install)
    ]
    if app.lifecycle_url("enabled") and app.lifecycle_url("disabled"):
        cases += [
            Case("disabled", "a disabled tenant gets 401 everywhere", disabled),
            Case("enabled again", "an enabled tenant works again", enabled),
        ]
    else:
        cases.append(
            Skipped(
                "disabled, enabled again: the descriptor declares no lifecycle.enabled/disabled",
                "declare lifecycle.enabled and lifecycle.disabled in the descriptor",
            )
        )
    return [
        *cases,
        Case("uninstalled", "an uninstalled tenant gets 401 everywhere", uninstalled),
        Case("reinstalled", "a reinstall after an uninstall works again", reinstalled),
        Case("rotation new secret", "after a reinstall the new sharedSecret works everywhere", rotation_new),
        Case(
            "rotation old secret", "after a reinstall the old sharedSecret gets 401 at once, everywhere", rotation_old
        ),
    ]
