"""How long simulating many Jira sites takes in process: each installs the app, loads its page, sends a webhook.

``python benchmarks/simulate_sites.py [--sites 100]`` runs the app in this process through Django's test client
(no sockets) on a SQLite file in a temporary directory, against fake_jira in process, and prints the wall time
of each phase, in total and per site. Every answer is checked, so a refused request cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/simulate_sites.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DESCRIPTOR_PATH = "/jira/atlassian-connect.json"
APP_BASE_URL = "http://testserver"  # the test client's host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=100, help="how many sites (default: %(default)s)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="jira-sites-") as workdir:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "mysite.settings",
                "ENVIRONMENT": "dev",
                "DATABASE_URL": f"sqlite:///{Path(workdir) / 'db.sqlite3'}",
                "JIRA_APP_LOG_LEVEL": "WARNING",  # a log line per install would be timed too
            }
        )
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client

        from fake_jira.demo import read_page
        from fake_jira.messages import Response
        from fake_jira.mock import mock_jira
        from fake_jira.sites import JiraSite
        from fake_jira.transports import DjangoClientTransport

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrated = time.perf_counter() - started

        with mock_jira() as fake:
            settings.ATLASSIAN_CONNECT_BASE_URL = APP_BASE_URL
            settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake.keys_url
            app = fake.connect_app(DjangoClientTransport(Client()), DESCRIPTOR_PATH)
            sites = [fake.add_site(f"site-{number:03d}") for number in range(args.sites)]
            for site in sites:
                site.add_project("DEMO", f"Demo of {site.name}")

            def page(site: JiraSite) -> Response:
                response = site.load_page(app, "hello")
                shown = read_page(response.text).site if response.status == 200 else None
                if shown != site.base_url:
                    raise SystemExit(f"{site.name}: the page showed site {shown!r} ({response.status})")
                return response

            phases: dict[str, Callable[[JiraSite], Response]] = {
                "install": lambda site: site.install(app),
                "page load": page,
                "webhook": lambda site: site.send_webhook(app, "jira:issue_created"),
            }
            seconds = {}
            for name, act in phases.items():
                started = time.perf_counter()
                for site in sites:
                    response = act(site)
                    if not response.ok:
                        raise SystemExit(f"{site.name}: {name} answered {response.status}: {response.text[:200]}")
                seconds[name] = time.perf_counter() - started
        connections.close_all()

    print(f"{args.sites} sites in process (Django test client, SQLite in a temporary directory, fake_jira in process):")
    for name, took in [*seconds.items(), ("total", sum(seconds.values()))]:
        print(f"  {name:<10} {took:6.2f} s  {took / args.sites * 1000:6.1f} ms/site")
    print(f"  (not counted: migrating the empty database, {migrated:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
