"""The app as Jira shows it: in an iframe created by Atlassian's connect-host.js, talking through all.js."""

from __future__ import annotations

import json

import jwt
import pytest
import requests

from fake_jira.browser.stack import DevStack
from fake_jira.sites import JiraSite
from tests.browser.conftest import HostPage

pytestmark = pytest.mark.browser


def _site(stack: DevStack, name: str) -> JiraSite:
    return next(site for site in stack.sites if site.name == name)


def _url(stack: DevStack, site: JiraSite, user_index: int = 0) -> str:
    return stack.server.host.page_url(site, stack.app, user=site.state.users[user_index])


def _whoami(frame) -> dict:
    """whoami as the page would call it: with a context token from AP.context.getToken()."""
    script = """async () => {
        const token = await AP.context.getToken();
        const response = await fetch("/jira/api/whoami", {headers: {Authorization: "JWT " + token}});
        return {status: response.status, body: await response.json(), token: token};
    }"""
    return frame.evaluate(script)


def test_the_hello_page_renders_inside_the_host_page_for_its_site_and_user(stack, host_page: HostPage):
    acme = _site(stack, "acme")
    user = acme.state.users[1]
    frame = host_page.open(_url(stack, acme, 1)).wait_for_app()

    assert host_page.text("#site-name") == "acme"
    assert host_page.text("#current-user") == user.display_name
    assert host_page.text("#app-entry") == "hello"
    assert frame.inner_text("#site") == acme.base_url
    assert frame.inner_text("#client-key") == acme.client_key
    assert frame.inner_text("#account-id") == user.account_id
    assert frame.inner_text("#whoami") == f"accountId {user.account_id} on {acme.base_url}"
    assert "ROCKET" in frame.inner_text("#projects")
    # The iframe's src is Jira's: context parameters, then a page JWT bound to them.
    src = host_page.page.get_attribute("#app-frame iframe", "src")
    for parameter in ("xdm_e=", "xdm_c=", "cp=", "lic=none", "cv=", "jwt="):
        assert parameter in src
    assert host_page.console_errors() == []
    assert host_page.page_errors == []


def test_a_context_token_from_the_bridge_speaks_for_the_site_and_user(stack, host_page: HostPage):
    globex = _site(stack, "globex")
    user = globex.state.users[0]
    frame = host_page.open(_url(stack, globex)).wait_for_app()

    answer = _whoami(frame)

    assert answer["status"] == 200
    assert answer["body"] == {"clientKey": globex.client_key, "baseUrl": globex.base_url, "accountId": user.account_id}
    claims = jwt.decode(answer["token"], options={"verify_signature": False})
    assert (claims["qsh"], claims["iss"], claims["sub"]) == ("context-qsh", globex.client_key, user.account_id)
    assert jwt.decode(answer["token"], globex.installation(stack.app).shared_secret, algorithms=["HS256"])


def test_switching_site_and_user_changes_what_the_app_sees(stack, host_page: HostPage):
    acme, globex = _site(stack, "acme"), _site(stack, "globex")
    host_page.open(_url(stack, acme)).wait_for_app()

    with host_page.page.expect_navigation():
        host_page.page.select_option("#user-switcher", label=acme.state.users[1].display_name)
    frame = host_page.wait_for_app()
    assert frame.inner_text("#account-id") == acme.state.users[1].account_id
    assert _whoami(frame)["body"]["accountId"] == acme.state.users[1].account_id

    with host_page.page.expect_navigation():
        host_page.page.select_option("#site-switcher", label="globex")
    frame = host_page.wait_for_app()
    assert host_page.text("#site-name") == "globex"
    assert frame.inner_text("#site") == globex.base_url
    assert _whoami(frame)["body"] == {
        "clientKey": globex.client_key,
        "baseUrl": globex.base_url,
        "accountId": globex.admin.account_id,
    }


def test_after_a_rotation_the_page_works_and_the_old_secrets_token_is_refused(stack, host_page: HostPage):
    acme = _site(stack, "acme")
    rotated_before = len(acme.installation(stack.app).previous_secrets)
    frame = host_page.open(_url(stack, acme)).wait_for_app()
    old_token = _whoami(frame)["token"]

    with host_page.page.expect_navigation():
        host_page.page.click("#rotate-secret")
    frame = host_page.wait_for_app()

    assert len(acme.installation(stack.app).previous_secrets) == rotated_before + 1
    assert frame.inner_text("#whoami") == f"accountId {acme.admin.account_id} on {acme.base_url}"
    assert _whoami(frame)["status"] == 200
    refused = requests.get(
        f"{stack.app_url}/jira/api/whoami", headers={"Authorization": f"JWT {old_token}"}, timeout=10
    )
    assert refused.status_code == 401
    assert host_page.console_errors() == []


def test_a_host_on_another_origin_cannot_frame_the_app(stack, host_page: HostPage):
    acme = _site(stack, "acme")
    # The same page from http://localhost:<port>: another origin than the site's http://127.0.0.1:<port>.
    foreign = _url(stack, acme).replace("://127.0.0.1:", "://localhost:", 1)

    host_page.open(foreign)
    host_page.page.wait_for_selector("body[data-bridge=timeout]", state="attached", timeout=20_000)

    refusals = [m.text for m in host_page.console if "frame-ancestors" in m.text]
    assert refusals, f"Chromium reported no CSP refusal: {[m.text for m in host_page.console]}"
    assert f"frame-ancestors http://127.0.0.1:{stack.server.server_address[1]}" in refusals[0]
    notice = host_page.text("#host-notice")
    assert "refused to be framed" in notice
    assert "http://localhost:" in notice
    assert host_page.page.frame(url=lambda url: url.startswith(stack.app_url)) is None


def test_the_bridge_runs_request_navigator_flag_and_resize_in_the_host_page(stack, host_page: HostPage):
    globex = _site(stack, "globex")
    user = globex.state.users[1]
    frame = host_page.open(_url(stack, globex, 1)).wait_for_app()

    # The hello page asks sizeToParent: the iframe fills the window below it (to 1 px above its bottom edge,
    # as in Jira), and follows the window when it is resized.
    fills_window = """height => innerHeight === height && Math.abs(
        document.querySelector("#app-frame iframe").getBoundingClientRect().bottom - (innerHeight - 1)) < 1"""
    iframe = host_page.page.locator("#app-frame iframe")
    host_page.page.wait_for_function(fills_window, arg=900)
    tall = iframe.bounding_box()["height"]
    host_page.page.set_viewport_size({"width": 1280, "height": 700})
    host_page.page.wait_for_function(fills_window, arg=700)
    assert iframe.bounding_box()["height"] == pytest.approx(tall - 200, abs=1)

    myself = json.loads(frame.evaluate("AP.request('/rest/api/3/myself').then(answer => answer.body)"))
    assert (myself["accountId"], myself["displayName"]) == (user.account_id, user.display_name)

    frame.evaluate("AP.navigator.go('issue', {issueKey: 'HAMMOCK-1'})")
    host_page.page.wait_for_selector("#navigator-log:visible")
    assert host_page.text("#navigator-log") == 'The app asked Jira to go to issue {"issueKey":"HAMMOCK-1"}'

    frame.evaluate("AP.flag.create({title: 'Saved', body: 'from the <app>', type: 'success'})")
    host_page.page.wait_for_selector(".flag.success")
    assert host_page.text(".flag.success h2") == "Saved"
    assert host_page.text(".flag.success .flag-body") == "from the <app>"

    assert host_page.console_errors() == []


def test_no_secret_reaches_the_page_the_url_bar_or_the_console(stack, host_page: HostPage):
    secrets = [
        secret
        for site in stack.sites
        for secret in (site.installation(stack.app).shared_secret, *site.installation(stack.app).previous_secrets)
    ]
    seen: list[tuple[str, str]] = []
    for site in stack.sites:
        for index, user in enumerate(site.state.users):
            frame = host_page.open(_url(stack, site, index)).wait_for_app()
            _whoami(frame)
            where = f"{site.name} as {user.display_name}"
            seen += [
                (f"URL bar ({where})", host_page.page.url),
                (f"host page ({where})", host_page.page.content()),
                (f"iframe URL ({where})", frame.url),
                (f"app page ({where})", frame.content()),
            ]
    seen += [(f"console: {message.type}", message.text) for message in host_page.console]

    assert len(secrets) >= len(stack.sites)
    # Names where a secret showed, never the secret itself: test output must not carry one either.
    assert [where for where, text in seen if any(secret in text for secret in secrets)] == []
    assert host_page.console_errors() == []
    assert host_page.page_errors == []
