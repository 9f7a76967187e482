"""The readiness wait every process-starting test shares: a slow or half-started server is waited for, not failed."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from tests.mysite.processes import wait_until_serving


def starting_server(sock: socket.socket, *, answers_after: float) -> None:
    """Like gunicorn on a loaded machine: connections reset or left unanswered until a worker is ready."""
    started = time.monotonic()
    while True:
        try:
            connection, _ = sock.accept()
        except OSError:
            return
        with connection:
            if time.monotonic() - started < answers_after / 2:
                time.sleep(answers_after / 2)  # accepted but unanswered: the client's read times out
            elif time.monotonic() - started < answers_after:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
            else:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def process():
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield running
    running.kill()
    running.wait()


@pytest.fixture
def listening():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_read_timeouts_and_resets_while_starting_are_waited_out(process, listening, tmp_path):
    threading.Thread(target=starting_server, args=(listening,), kwargs={"answers_after": 5}, daemon=True).start()
    port = listening.getsockname()[1]

    wait_until_serving(process, f"http://127.0.0.1:{port}/", tmp_path / "log", seconds=30)


def test_a_server_that_never_answers_fails_at_the_deadline_with_its_log(process, listening, tmp_path):
    log = tmp_path / "log"
    log.write_text("booting worker\n")
    threading.Thread(target=starting_server, args=(listening,), kwargs={"answers_after": 600}, daemon=True).start()
    port = listening.getsockname()[1]

    with pytest.raises(pytest.fail.Exception, match=r"did not answer within 3 s \(last: .*\):\nbooting worker"):
        wait_until_serving(process, f"http://127.0.0.1:{port}/", log, seconds=3)


def test_a_server_process_that_exits_fails_at_once_with_its_log(tmp_path):
    log = tmp_path / "log"
    log.write_text("ImproperlyConfigured: Set the SECRET_KEY environment variable\n")
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()

    with pytest.raises(pytest.fail.Exception, match="exited with 3:\nImproperlyConfigured"):
        wait_until_serving(exited, "http://127.0.0.1:9/", log)
