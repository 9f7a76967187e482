"""The demo's story (fake_jira.demo): it passes against correct apps, fails loudly against a gullible one,
never prints a secret, and its command starts and always stops the app it was given."""

from __future__ import annotations

import io
import sys
import time

import jwt
import pytest

from fake_jira.__main__ import main
from fake_jira.demo import Story
from fake_jira.demo.output import WIDTH
from fake_jira.messages import Response
from jira_app.models import WebhookDelivery
from tests.e2e.conftest import FORGE_APP_ID
from tests.fake_jira.toy_app import DESCRIPTOR_PATH, Tenant, ToyApp, served_over_http
from tests.mysite.processes import manage

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 25
# The Forge chapter's steps (fake_jira.demo.chapters.forge), played with --forge-app-id.
FORGE_STEPS = 15


def play(story: Story) -> tuple[bool, list[str]]:
    out = io.StringIO()
    story.out = out
    return story.play(), out.getvalue().splitlines()


def marked(lines: list[str], mark: str) -> list[str]:
    """The steps marked ``mark``, each one string: its line and the continuation lines it wrapped into."""
    steps: list[str] = []
    for line in lines:
        if line.startswith(("✓", "✗")):
            steps.append(line)
        elif steps and line.startswith(" " * 11) and steps[-1][:1] in "✓✗":
            steps[-1] += " " + line.strip()
        else:
            steps.append(line)
    return [step for step in steps if step.startswith(mark)]


def stored_deliveries():
    return list(WebhookDelivery.objects.values("identifier", "retry_count", "duplicates"))


def test_the_story_passes_against_this_project_and_shows_no_secret(fake_jira, transport):
    passed, lines = play(Story(fake_jira, transport, stored_webhooks=stored_deliveries))

    assert passed, "\n".join(lines)
    assert (len(marked(lines, "✓")), marked(lines, "✗")) == (STEPS, [])
    assert lines[-2].startswith(f"{STEPS} steps: {STEPS} ✓, 0 ✗")
    secrets = [s for site in fake_jira.sites for i in site.state.installations.values() for s in i.previous_secrets]
    secrets += [i.shared_secret for site in fake_jira.sites for i in site.state.installations.values()]
    assert len(secrets) == 4  # three installs and one rotation
    assert not [secret for secret in secrets if any(secret in line for line in lines)]
    assert [line for line in lines if len(line) > WIDTH] == []


def test_the_webhook_retry_is_read_back_from_the_app_as_one_stored_copy(fake_jira, transport):
    passed, lines = play(Story(fake_jira, transport, stored_webhooks=stored_deliveries))

    text = "\n".join(lines)
    assert passed, text
    assert "retry 1 → 204: the retry accepted, and read back from the app's store: one copy kept" in " ".join(
        text.split()
    )
    assert WebhookDelivery.objects.get().duplicates == 1


def test_an_app_that_keeps_every_retry_gets_a_cross(fake_jira):
    app = ToyApp(keys_url=fake_jira.keys_url)  # it appends each delivery, retries included
    story = Story(
        fake_jira,
        app,
        descriptor_path=DESCRIPTOR_PATH,
        context_path="/api/whoami",
        stored_webhooks=lambda: [{"identifier": identifier} for identifier, _, _ in app.webhooks],
    )

    passed, lines = play(story)

    assert not passed
    crosses = marked(lines, "✗")
    assert len(crosses) == 1
    assert "retry 1" in crosses[0]
    assert "the app stored 2 copies of delivery" in crosses[0]


def test_explain_shows_each_token_decoded_and_its_qsh_computed_without_a_secret(fake_jira, transport):
    passed, lines = play(Story(fake_jira, transport, explain=True, stored_webhooks=stored_deliveries))

    assert passed, "\n".join(lines)
    labels = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")]
    for label in ("header", "claims", "signed", "body", "canonical", "sha256"):
        assert label in labels
    assert labels.count("header") == STEPS - 1  # every step but the descriptor carries a token
    assert "  signed     HS256 with acme's replaced sharedSecret" in "\n".join(lines)
    assert any(line.startswith("  canonical  GET&/jira/hello.html&") for line in lines)
    assert any(line.endswith("= the token's qsh") for line in lines)
    secrets = [i.shared_secret for site in fake_jira.sites for i in site.state.installations.values()]
    secrets += [s for site in fake_jira.sites for i in site.state.installations.values() for s in i.previous_secrets]
    assert not [secret for secret in secrets if any(secret in line for line in lines)]
    assert [line for line in lines if len(line) > WIDTH] == []


def test_the_story_passes_against_another_framework(fake_jira):
    """Routes come from the descriptor: the toy app (no Django) lives under /toy, its API at /toy/api/whoami."""
    passed, lines = play(
        Story(
            fake_jira, ToyApp(keys_url=fake_jira.keys_url), descriptor_path=DESCRIPTOR_PATH, context_path="/api/whoami"
        )
    )

    assert passed, "\n".join(lines)
    assert len(marked(lines, "✓")) == STEPS


class GullibleApp(ToyApp):
    """The toy app, but it reads tokens without verifying them: it believes whatever they claim."""

    def _signed_install(self, route, method, target, headers, payload):
        if route == "/installed":
            self.tenants[payload["clientKey"]] = Tenant(payload["baseUrl"], payload["sharedSecret"])
        return Response(204)

    def _verify_hs256(self, method, target, headers, *, context):
        return jwt.decode(self._token(target, headers), options={"verify_signature": False})


def test_an_app_that_accepts_forgeries_gets_a_cross_on_each_and_a_failing_exit_status(capsys):
    with served_over_http(GullibleApp(keys_url="http://127.0.0.1:9/unused")) as url:
        toy_paths = ["--descriptor-path", DESCRIPTOR_PATH, "--context-path", "/api/whoami"]
        status = main(["demo", "--app-url", url, "--fake-jira-port", "0", *toy_paths])

    lines = capsys.readouterr().out.splitlines()
    crosses = marked(lines, "✗")
    assert status == 1
    assert [(line.split()[1], "ACCEPTED" in line) for line in crosses] == [
        ("acme", True),  # a context token on a page
        ("acme", True),  # the secret a reinstall replaced
        ("acme", True),  # the forged install ...
        ("acme", False),  # ... which took the tenant over: the app's REST calls now fail
        ("globex", False),  # a page after the uninstall, not refused
    ]
    assert "forged: a valid token with one signature byte flipped" in crosses[2]
    assert lines[-2].startswith(f"{STEPS} steps: {STEPS - 5} ✓, 5 ✗")


def test_an_app_command_that_exits_is_reported_with_its_output(capsys):
    command = f"{sys.executable} -c \"print('no database configured'); raise SystemExit(3)\""

    assert main(["demo", "--app-command", command]) == 1

    err = capsys.readouterr().err
    assert "the app exited with status 3 before GET http://127.0.0.1:" in err
    assert "| no database configured" in err


def test_an_app_that_never_answers_is_stopped_after_the_timeout(capsys):
    started = time.monotonic()

    assert main(["demo", "--app-command", "echo starting; exec sleep 60", "--startup-timeout", "0.5"]) == 1

    # sleep ignores nothing: SIGTERM ends it at once, well before its 60 s.
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "did not answer 200 within 0.5 s (last: ConnectionError)" in err
    assert "| starting" in err


def test_the_demo_command_plays_the_story_against_gunicorn(tmp_path, monkeypatch, capsys):
    """What `nox -s demo` runs, minus nox: a fresh SQLite file, the app under gunicorn, the whole story with its
    Forge chapter."""
    database_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    migrated = manage("migrate", "--noinput", env={"DATABASE_URL": database_url})
    assert migrated.returncode == 0, migrated.stderr
    for name, value in {"DATABASE_URL": database_url, "ENVIRONMENT": "dev", "WEB_CONCURRENCY": "1"}.items():
        monkeypatch.setenv(name, value)
    command = f"{sys.executable} -m gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$PORT --no-control-socket mysite.wsgi"

    stored = f"{sys.executable} manage.py dumpdata jira_app.WebhookDelivery"

    forge = ["--forge-app-id", FORGE_APP_ID]
    status = main(["demo", "--app-command", command, "--stored-webhooks-command", stored, *forge])

    out = capsys.readouterr().out
    assert status == 0, out
    total = STEPS + FORGE_STEPS
    assert f"{total} steps: {total} ✓, 0 ✗" in out
    assert "Forge (fake_jira): http://127.0.0.1:" in out
    assert "read back from the app's store: one copy kept, its duplicates counter 1" in " ".join(out.split())
    assert [line for line in out.splitlines() if len(line) > WIDTH] == []
