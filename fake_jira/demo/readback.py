"""Reading back what the app stored of a webhook delivery, to show that a retry was kept once.

fake_jira sees only HTTP, and an app's HTTP API need not say what it stored. So the demo asks the app's own
tooling, through a shell command given with ``--stored-webhooks-command`` that prints the stored deliveries as
JSON: a list of objects, each holding the delivery's identifier among its values, either at the top level or
under ``"fields"`` (the shape of Django's ``manage.py dumpdata``). ``nox -s demo`` passes
``python manage.py dumpdata jira_app.WebhookDelivery``: the app's own read of its own database, needing no
credentials, no admin login and no HTML scraping, in the environment the app runs in.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

COMMAND_SECONDS = 60.0


class ReadBackFailed(Exception):
    """The command failed, or printed something that is not a JSON list; the message says which."""


def from_command(command: str, env: Mapping[str, str]) -> Callable[[], Any]:
    """A reader that runs ``command`` (a shell command, as the user would type it) and parses its output."""

    def read() -> Any:
        # shell=True: the command is the user's own, like --app-command.
        done = subprocess.run(  # noqa: S602
            command,
            shell=True,
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ReadBackFailed(f"'{command}' exited with status {done.returncode}: {last}")
        try:
            return json.loads(done.stdout)
        except ValueError as error:
            raise ReadBackFailed(f"'{command}' did not print JSON ({error})") from None

    return read


def copies_of(records: Any, identifier: str) -> list[Mapping[str, Any]]:
    """The stored records that carry ``identifier``: one for a retry kept once."""
    if not isinstance(records, list):
        raise ReadBackFailed("the stored deliveries are not a JSON list")
    found = []
    for record in records:
        fields = record.get("fields", record) if isinstance(record, Mapping) else None
        if isinstance(fields, Mapping) and identifier in fields.values():
            found.append(fields)
    return found
