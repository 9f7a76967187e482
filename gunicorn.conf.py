"""Gunicorn settings: ``gunicorn -c gunicorn.conf.py mysite.wsgi`` (docs/deploy.md).

Read from the environment so one file serves a laptop, a tunnel, a VM behind nginx and a PaaS. Anything
else can be changed with GUNICORN_CMD_ARGS or on the command line, which both win over this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gunicorn.glogging import Logger

from jira_app.log import EscapingFormatter

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.config import Config

_MANAGE_PY = Path(__file__).resolve().parent / "manage.py"


def _cores() -> int:
    # The CPUs this process may use, which in a container is often fewer than the machine has.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Loopback unless told otherwise: on a host of your own the proxy (nginx, Caddy, cloudflared) must be the
# only way in, because Django trusts the X-Forwarded-Proto it sets. Platforms that set PORT route to the
# container themselves and need every interface; GUNICORN_BIND=0.0.0.0:8000 does the same for a proxy on
# another machine.
_port = os.environ.get("PORT")
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000").split(",")

# Requests are short (a JWT check and a row read), so plain processes rather than threads. Each worker
# (each thread) keeps a database connection open (CONN_MAX_AGE): size PostgreSQL's max_connections to match.
# Keep-alive threads (gthread) gave page loads nothing, and halved bare Django's throughput whenever wrk's
# kept-alive connections landed on one worker, which then served them all while the other idled
# (benchmarks/README.md, "Worker class"): sync workers take a new connection per request and stay balanced.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * _cores() + 1))
# More than 1 switches to the gthread worker: worth it only if views wait on Jira's REST API for long.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# An outbound call to a tenant's site ends within 5 s in total (ATLASSIAN_CONNECT_HOST_REQUEST_TIMEOUT), and one to
# the install-key service within 5 s per read: a worker silent for 30 s is stuck, not busy.
timeout = 30

# Only these addresses may tell gunicorn the request came over HTTPS (wsgi.url_scheme); Django itself reads
# X-Forwarded-Proto through SECURE_PROXY_SSL_HEADER. Set it to the proxy's address if that is not local.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# To stdout, for the container or journald to collect. The path without its query string, and no Referer:
# Jira passes the page token as ?jwt=..., and a log is no place for a token.
accesslog = "-"
access_log_format = '%(h)s "%({x-forwarded-for}i)s" %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


class EscapingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's logger, its lines escaped like the app's: a newline in a path or header forges no line."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        formats = {self.error_log: (self.error_fmt, self.datefmt), self.access_log: (self.access_fmt, None)}
        for log, (fmt, datefmt) in formats.items():
            for handler in log.handlers:
                handler.setFormatter(EscapingFormatter(fmt, datefmt))


logger_class = EscapingLogger


def on_starting(server: Arbiter) -> None:
    """Run Django's system checks and refuse to start if they fail.

    Gunicorn imports the WSGI application without running any check, so without this a prod deployment with
    the public development encryption key (jira_app.E006) or without HTTPS settings would serve traffic. A
    subprocess keeps Django out of the master, so that ``kill -HUP`` still loads new code into the workers.
    """
    command = [sys.executable, str(_MANAGE_PY), "check"]
    if os.environ.get("ENVIRONMENT") == "prod":
        command += ["--deploy", "--fail-level", "WARNING"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (our own manage.py)
    report = (result.stderr + result.stdout).strip()
    if result.returncode != 0:
        server.log.error("%s failed:\n%s", " ".join(command[1:]), report)
        raise RuntimeError("Django's system checks failed (see above): fix what they name, then restart.")
    server.log.info("%s: %s", " ".join(command[1:]), report)
