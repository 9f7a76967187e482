"""gunicorn.conf.py and static files in prod: collectstatic, the admin's CSS served by WhiteNoise, and the
``on_starting`` hook that keeps a misconfigured prod from serving at all. Each starts real processes."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys

import mysite.settings as project_settings
from fake_jira.server import free_port
from tests.mysite.processes import ROOT, environment, manage, prod_env, wait_until_serving

HOST = "jira-app.example.com"


def gunicorn(port: int, env: dict[str, str], log) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", "mysite.wsgi"]
    # GUNICORN_BIND and WEB_CONCURRENCY go through gunicorn.conf.py, as in a deployment.
    env = environment({**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"})
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": HOST, **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_prod_serves_the_admin_css_collected_by_collectstatic_under_gunicorn(tmp_path):
    env = prod_env(ALLOWED_HOSTS=HOST, STATIC_ROOT=str(tmp_path / "static"))
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()

    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = gunicorn(port, env, log)
        try:
            wait_until_serving(process, f"http://127.0.0.1:{port}/admin/login/", log_path, headers={"Host": HOST})
            # Plain HTTP (no proxy header) is sent to https; through the proxy the login page renders.
            status, headers, _ = get(port, "/admin/login/")
            assert (status, headers["location"]) == (301, f"https://{HOST}/admin/login/")
            status, headers, page = get(port, "/admin/login/", **{"X-Forwarded-Proto": "https"})
            assert status == 200
            assert "max-age=31536000" in headers["strict-transport-security"]
            # The manifest storage puts a content hash in the name, so the CSS can be cached forever.
            css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
            assert css, page[:2000]
            status, headers, body = get(port, css.group(1).decode(), **{"X-Forwarded-Proto": "https"})
            assert status == 200
            assert headers["content-type"].startswith("text/css")
            assert b"body" in body
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_gunicorn_refuses_to_start_prod_with_the_development_encryption_key(tmp_path):
    env = prod_env(ATLASSIAN_CONNECT_ENCRYPTION_KEYS=project_settings.DEV_ENCRYPTION_KEY)
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = gunicorn(free_port(), env, log)
        try:
            returncode = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    output = log_path.read_text()

    assert returncode != 0
    assert "jira_app.E006" in output
    assert "Listening at" not in output


def test_gunicorn_logs_a_newline_in_the_path_escaped(tmp_path):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    forged = "2026-11-30 12:00:00 forged line"
    with log_path.open("wb") as log:
        process = gunicorn(port, {}, log)
        try:
            wait_until_serving(process, f"http://127.0.0.1:{port}/jira/atlassian-connect.json", log_path)
            status, _, _ = get(port, "/jira/nope%0A" + forged.replace(" ", "%20"), Host="localhost")
            assert status == 404
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    output = log_path.read_text()

    # One escaped line from gunicorn's access log, one from the app's own "Not Found" warning.
    assert output.count("/jira/nope\\n" + forged) == 2, output
    assert not [line for line in output.splitlines() if line.startswith(forged)]
