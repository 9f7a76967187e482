from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fake_jira.__main__ import build_parser, main
from tests.fake_jira.toy_app import DESCRIPTOR_PATH, ToyApp, served_over_http

ROOT = Path(__file__).resolve().parents[2]


def test_serve_defaults_to_loopback():
    args = build_parser().parse_args(["serve"])

    assert (args.host, args.port) == ("127.0.0.1", 8001)


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    assert "serve" in capsys.readouterr().err


def test_python_m_fake_jira_serve_runs_until_interrupted():
    server = subprocess.Popen(
        [sys.executable, "-m", "fake_jira", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = server.stdout.readline()
        url = first_line.removeprefix("fake_jira serving at ").strip()
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/_fake/sites", timeout=5).json() == []
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
        server.stdout.close()


@pytest.fixture
def served_toy(fake_jira_server):
    fake_jira_server.fake.reset()
    toy = ToyApp(keys_url=fake_jira_server.fake.keys_url)
    with served_over_http(toy) as url:
        yield f"{url}{DESCRIPTOR_PATH}"


def test_install_rotate_uninstall_drive_an_app_through_a_running_server(fake_jira_server, served_toy, capsys):
    options = ["--server", fake_jira_server.url, "--site", "globex"]

    assert main(["install", served_toy, *options]) == 0
    assert main(["rotate", served_toy, *options]) == 0
    installation = fake_jira_server.fake.site("globex").state.installation("toy-connect-app")
    assert len(installation.previous_secrets) == 1
    assert main(["uninstall", served_toy, *options]) == 0
    assert not installation.installed

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"install on globex ({fake_jira_server.url}/sites/globex): the app answered HTTP 204"
    assert out[1].startswith("reinstall on globex")


def test_page_prints_a_signed_url_that_opens_the_page_while_its_token_lives(fake_jira_server, served_toy, capsys):
    options = ["--server", fake_jira_server.url, "--site", "acme"]
    assert main(["install", served_toy, *options]) == 0
    capsys.readouterr()

    assert main(["page", served_toy, *options]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "page hello on acme: the app answered HTTP 200"
    url = out[1].removeprefix("open it within 180 s: ")
    assert url.startswith(served_toy.removesuffix(DESCRIPTOR_PATH) + "/toy/hello?")
    assert "&jwt=" in url
    assert requests.get(url, timeout=5).status_code == 200  # what the browser gets


def test_page_of_a_site_without_the_app_says_why(fake_jira_server, served_toy, capsys):
    requests.post(f"{fake_jira_server.url}/_fake/sites", json={"name": "initech"}, timeout=5)

    assert main(["page", served_toy, "--server", fake_jira_server.url, "--site", "initech"]) == 1

    assert "fake_jira refused: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["rotate", "{app}", "--site", "nowhere"], "no site named 'nowhere'"),
        (["install", "http://127.0.0.1:9/atlassian-connect.json"], "could not be fetched"),
        (["install", "not a url"], "not an absolute http(s) URL"),
        (["install", "{app}", "--connect-to", "nonsense"], "is not HOST1:PORT1:HOST2:PORT2"),
    ],
)
def test_lifecycle_commands_say_why_they_failed(fake_jira_server, served_toy, capsys, argv, error):
    argv = [arg.replace("{app}", served_toy) for arg in argv]

    assert main([*argv, "--server", fake_jira_server.url]) == 2

    err = capsys.readouterr().err
    assert error in err
    assert err.count("\n") == 1


def test_lifecycle_commands_need_a_running_server(capsys):
    assert main(["install", "http://127.0.0.1:9/x.json", "--server", "http://127.0.0.1:9"]) == 2

    assert capsys.readouterr().err == (
        "install: no fake_jira at http://127.0.0.1:9 (ConnectionError): start 'python -m fake_jira serve'\n"
    )


def test_a_server_that_is_not_fake_jira_is_named(served_toy, capsys):
    not_fake_jira = served_toy.removesuffix(DESCRIPTOR_PATH)

    assert main(["install", served_toy, "--server", not_fake_jira]) == 2

    assert capsys.readouterr().err == (
        f"install: {not_fake_jira} answered HTTP 401 without fake_jira's JSON: is --server a running "
        "'python -m fake_jira serve'?\n"
    )


def test_rotating_where_the_install_failed_says_so(fake_jira_server, capsys):
    options = ["--server", fake_jira_server.url, "--site", "initech"]
    # Configured with a key service that knows no key: it refuses every install.
    misconfigured = ToyApp(keys_url=f"{fake_jira_server.url}/nowhere")

    with served_over_http(misconfigured) as url:
        assert main(["install", f"{url}{DESCRIPTOR_PATH}", *options]) == 1
        assert main(["rotate", f"{url}{DESCRIPTOR_PATH}", *options]) == 2

    err = capsys.readouterr().err
    assert err.startswith("rotate: fake_jira refused: app 'toy-connect-app' was never installed on site 'initech'")


def test_serve_says_when_its_port_is_taken(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["serve", "--port", str(port)]) == 2

    assert capsys.readouterr().err == (
        f"serve: cannot listen on 127.0.0.1:{port} (Address already in use): pick another --port\n"
    )


def test_a_lifecycle_command_through_connect_to_says_so(fake_jira_server, capsys):
    toy = ToyApp(keys_url=fake_jira_server.fake.keys_url)
    with served_over_http(toy) as url:
        port = url.rsplit(":", 1)[1]
        # The app's baseUrl names a host nothing resolves; the connection goes to where it listens.
        toy.descriptor = {**toy.descriptor, "baseUrl": "http://toy.test/toy"}
        toy_options = ["--connect-to", f"toy.test:80:127.0.0.1:{port}", "--server", fake_jira_server.url]

        assert main(["install", f"{url}{DESCRIPTOR_PATH}", *toy_options, "--site", "hooli"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"install on hooli ({fake_jira_server.url}/sites/hooli): the app answered HTTP 204",
        f"connect-to: toy.test:80:127.0.0.1:{port} (connections moved, requests unchanged)",
    ]
    assert fake_jira_server.fake.site("hooli").state.installation("toy-connect-app").installed
