"""Bare Django (benchmarks/bare), the bench's floor: it must stay bare, and answer what the bench sends it."""

from __future__ import annotations

import json

from tests.mysite.processes import ROOT, run_python

# In a fresh interpreter: the test process's settings are the app's.
PROBE = """
import json
from wsgiref.util import setup_testing_defaults
from django.conf import settings
from benchmarks.bare.wsgi import application

environ = {"PATH_INFO": "/", "HTTP_HOST": "127.0.0.1:8000"}
setup_testing_defaults(environ)
answer = {}
body = b"".join(application(environ, lambda status, headers: answer.update(status=status, headers=dict(headers))))
print(json.dumps({**answer, "body": body.decode(), "middleware": settings.MIDDLEWARE, "apps": settings.INSTALLED_APPS}))
"""


def test_bare_django_answers_a_short_string_with_no_middleware_and_no_apps():
    done = run_python("-c", PROBE, env={"PYTHONPATH": str(ROOT)})

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["status"] == "200 OK"
    assert found["body"] == "Hello from bare Django."
    assert found["headers"]["Content-Type"] == "text/plain"
    assert found["middleware"] == []
    assert found["apps"] == []
