"""Concurrent installs of one clientKey, on PostgreSQL: the tenant's row lock serialises them.

Jira redelivers an ``installed`` callback it believes failed, and two app processes may then handle the same
site at once. ``lifecycle.installed`` reads the tenant with ``select_for_update()`` (``_locked_host``), so the
second call waits for the first to commit and decides "rotated or not" against the committed row.

The natural race below runs many threads at once. The forced ones hold every call right after its read of the
tenant row, until each other thread has either read too or is blocked on a row lock (seen in
``pg_stat_activity``), so the interleaving is the same on every run: no sleeps, no timing luck.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import connection

from jira_app import exceptions, lifecycle, signals
from jira_app.crypto import Secret
from jira_app.models import AtlassianHost, InstallTokenUse, LifecycleEvent
from jira_app.tokens import VerifiedToken
from tests.signing import Site

# SQLite lets one writer in at a time, so there is no row-level race to test there.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]

INSTALLED = LifecycleEvent.Kind.INSTALLED
ROTATED = LifecycleEvent.Kind.SECRET_ROTATED
REINSTALLED = LifecycleEvent.Kind.REINSTALLED
TIMEOUT = 30  # seconds; only reached when something is broken


def install(site: Site, secret: str, account_id: str) -> AtlassianHost:
    """What the installed view does once the RS256 token is verified; ``sub`` tells the callers apart."""
    token = VerifiedToken({"iss": site.client_key, "sub": account_id, "exp": int(time.time()) + 180}, uuid.uuid4().hex)
    body = site.lifecycle_body("installed", sharedSecret=secret)
    return lifecycle.installed(token, lifecycle.LifecyclePayload.parse(body, expected_event="installed"))


def history(site: Site) -> list[tuple[str, str]]:
    """(kind, account_id) of the tenant's events in the order they were written, which is commit order:
    each is written while its transaction holds the tenant's row lock."""
    events = LifecycleEvent.objects.filter(host__client_key=site.client_key).order_by("id")
    return list(events.values_list("kind", "account_id"))


def run_together(calls: list[Callable[[], object]], *, before_start: Callable[[], None] = lambda: None):
    """Start each call in its own thread, all released at once; returns the threads and the exceptions raised."""
    start = threading.Barrier(len(calls) + 1)
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            before_start()
            start.wait(timeout=TIMEOUT)
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # the thread's own connection, else the test database cannot be dropped

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    start.wait(timeout=TIMEOUT)
    return threads, errors


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (a lock never released?)"


@pytest.mark.parametrize("existing", [False, True], ids=["first-install", "reinstall"])
def test_concurrent_installs_leave_one_tenant_holding_the_last_committed_secret(existing):
    site = Site("race")
    if existing:
        install(site, "ATCO-original", "557058:setup")
    # Two secrets among eight calls, so a call that decided against a stale row would record the wrong kind.
    secrets = {f"557058:thread-{n}": f"ATCO-secret-{n % 2}" for n in range(8)}

    threads, errors = run_together(
        [lambda account=account, secret=secret: install(site, secret, account) for account, secret in secrets.items()]
    )
    join(threads)

    assert errors == []
    assert AtlassianHost.objects.filter(client_key=site.client_key).count() == 1
    events = history(site)[1:] if existing else history(site)
    assert sorted(account for _, account in events) == sorted(secrets)
    # Replay the history: each call must have decided against the secret committed just before it.
    previous = "ATCO-original" if existing else None
    for kind, account in events:
        secret = secrets[account]
        expected = INSTALLED if previous is None else ROTATED if secret != previous else REINSTALLED
        assert kind == expected, f"{account} recorded {kind} with {secret} after {previous} was committed"
        previous = secret
    assert AtlassianHost.objects.get(client_key=site.client_key).shared_secret == Secret(previous)


@dataclass
class ReadGate:
    """Stands in for ``lifecycle._locked_host``: holds each call right after its read until ``release``."""

    read: Callable[[str], AtlassianHost | None]
    readers: set[int] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, client_key: str) -> AtlassianHost | None:
        host = self.read(client_key)
        self.readers.add(threading.get_ident())
        assert self.release.wait(timeout=TIMEOUT), "the test never released the gate"
        return host


@dataclass
class Race:
    readers_at_release: int  # calls that had read the tenant row when the gate opened
    blocked_at_release: int  # calls waiting on a row lock when the gate opened
    errors: list[BaseException]
    rotated: list[bool]  # what host_installed said, in any order


def race_two_installs(monkeypatch, site: Site, secrets: list[str], read) -> Race:
    """Two installs of ``site``, held after their read until each has either read or is blocked on a lock."""
    gate = ReadGate(read)
    monkeypatch.setattr(lifecycle, "_locked_host", gate)
    pids: list[int] = []
    rotated: list[bool] = []

    def record_pid() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])

    def on_installed(sender, **kwargs):
        rotated.append(kwargs["rotated"])

    signals.host_installed.connect(on_installed, weak=False)
    try:
        threads, errors = run_together(
            [
                lambda n=n, secret=secret: install(site, secret, f"557058:thread-{n}")
                for n, secret in enumerate(secrets)
            ],
            before_start=record_pid,
        )
        try:
            blocked = _wait_until_all_read_or_blocked(gate, pids, total=len(secrets))
            readers = len(gate.readers)
        finally:
            gate.release.set()
        join(threads)
    finally:
        signals.host_installed.disconnect(on_installed)
    return Race(readers, blocked, errors, sorted(rotated))


def _wait_until_all_read_or_blocked(gate: ReadGate, pids: list[int], *, total: int) -> int:
    deadline = time.monotonic() + TIMEOUT
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'", [pids]
            )
            blocked = cursor.fetchone()[0]
        if len(gate.readers) + blocked >= total:
            return blocked
        assert time.monotonic() < deadline, f"{len(gate.readers)} read, {blocked} blocked: neither progressed"
        time.sleep(0.005)


def _unlocked_read(client_key: str) -> AtlassianHost | None:
    """_locked_host without select_for_update(): what the code would do without the row lock."""
    return AtlassianHost.objects.filter(client_key=client_key).first()


def test_a_redelivered_install_waits_for_the_row_lock_then_sees_the_rotation(monkeypatch):
    site = Site("retry")
    install(site, "ATCO-old", "557058:setup")

    race = race_two_installs(monkeypatch, site, ["ATCO-new", "ATCO-new"], lifecycle._locked_host)

    # One call held the lock across the gate and the other could not even read: it was blocked on the lock.
    assert (race.readers_at_release, race.blocked_at_release) == (1, 1)
    assert race.errors == []
    assert [kind for kind, _ in history(site)] == [INSTALLED, ROTATED, REINSTALLED]
    assert race.rotated == [False, True]
    assert AtlassianHost.objects.get(client_key=site.client_key).shared_secret == Secret("ATCO-new")


def test_without_the_row_lock_both_calls_decide_against_the_stale_row(monkeypatch):
    """The counterpart that shows the lock is what makes the test above pass."""
    site = Site("retry")
    install(site, "ATCO-old", "557058:setup")

    race = race_two_installs(monkeypatch, site, ["ATCO-new", "ATCO-new"], _unlocked_read)

    assert (race.readers_at_release, race.blocked_at_release) == (2, 0)
    assert race.errors == []
    # Wrong: one change of secret recorded (and signalled) as two rotations, the second against a stale row.
    assert [kind for kind, _ in history(site)] == [INSTALLED, ROTATED, ROTATED]
    assert race.rotated == [True, True]


def test_two_first_installs_that_both_found_no_row_end_with_one_tenant(monkeypatch):
    """No row to lock yet: both calls insert, and the unique client_key sends the loser to the winner's row."""
    site = Site("fresh")

    race = race_two_installs(monkeypatch, site, ["ATCO-first", "ATCO-second"], lifecycle._locked_host)

    assert (race.readers_at_release, race.blocked_at_release) == (2, 0)
    assert race.errors == []
    assert AtlassianHost.objects.filter(client_key=site.client_key).count() == 1
    events = history(site)
    assert [kind for kind, _ in events] == [INSTALLED, ROTATED]
    assert race.rotated == [False, True]
    last_thread = int(events[-1][1].rsplit("-", 1)[1])
    expected = ["ATCO-first", "ATCO-second"][last_thread]
    assert AtlassianHost.objects.get(client_key=site.client_key).shared_secret == Secret(expected)


@pytest.mark.parametrize("same_body", [True, False], ids=["retried", "replayed-with-other-bodies"])
def test_one_install_token_sent_eight_times_at_once_is_applied_once(same_body):
    site = Site("replay")
    token = VerifiedToken({"iss": site.client_key, "sub": "557058:admin", "exp": int(time.time()) + 180}, "one")

    def send(n: int) -> AtlassianHost:
        secret = "ATCO-retried" if same_body else f"ATCO-replayed-{n}"
        body = site.lifecycle_body("installed", sharedSecret=secret)
        return lifecycle.installed(token, lifecycle.LifecyclePayload.parse(body, expected_event="installed"))

    threads, errors = run_together([lambda n=n: send(n) for n in range(8)])
    join(threads)

    # Whichever commits first wins; the others wait on the token's unique index, then see its record.
    assert [kind for kind, _ in history(site)] == [INSTALLED]
    assert InstallTokenUse.objects.count() == 1
    if same_body:
        assert errors == []
    else:
        assert len(errors) == 7
        assert all(isinstance(error, exceptions.ReplayedToken) for error in errors)
