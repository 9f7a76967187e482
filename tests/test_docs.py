"""The docs stay true: README.md and docs/ are read as a newcomer reads them, and every claim a machine can check
is checked.

Conventions the docs follow, so that this test can read them:

- Relative links (``[text](path#anchor)``) resolve to a file in the repository, and the anchor to one of its
  headings (GitHub's slugs).
- A name in backticks that looks like ``jira_app.x.y`` (``fake_jira``, ``mysite`` too) is importable: a module,
  or an attribute of one. ``jira_app.E001`` is a system check id, and ``jira_app.security`` a logger name.
- A path in backticks (``jira_app/qsh.py``, ``tests/x.py::test_y``) exists, and so does the test it names.
- ``python -m fake_jira <command>``, ``nox ... -s <session ...>`` and ``manage.py <command>`` name commands
  and sessions that exist, wherever they appear.
- An HTML comment ``<!-- docs-test: <kind> -->`` marks the code block after it: ``run`` (executed: Python
  blocks in this process, shell blocks with this environment's ``python``), ``run-background`` (a server a
  later ``run`` block needs), ``run-with-fixtures`` (a test function, called with fake_jira and a
  transport), ``qsh-*`` (the worked ``qsh`` example, recomputed here) and ``reason-codes`` (the table
  listing every reason code in ``jira_app.exceptions``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.apps import apps
from django.core.management import get_commands
from django.test import Client

from fake_jira import conformance, tokens
from fake_jira.__main__ import _COMMANDS as FAKE_JIRA_COMMANDS
from fake_jira.descriptor import ConnectApp
from fake_jira.server import free_port
from fake_jira.transports import DjangoClientTransport
from jira_app import exceptions, qsh

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_MARKED_FENCE = re.compile(r"<!-- docs-test: ([\w-]+) -->\n```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_DOTTED = re.compile(r"(?:jira_app|fake_jira|mysite)(?:\.\w+)+")
_PATH = re.compile(r"(?:jira_app|fake_jira|mysite|tests|benchmarks|fixtures|docs|requirements)/[\w./-]+(?:::\w+)?")
_FAKE_JIRA_COMMAND = re.compile(r"python -m fake_jira (\w+)")
_NOX_SESSIONS = re.compile(r"\bnox(?: -R)? -s((?: [a-z][\w]*)+)")
_MANAGE_COMMAND = re.compile(r"manage\.py (\w+)")
# A system check id (jira_app.E001), or a family of them (jira_app.E*).
_CHECK_ID = re.compile(r"jira_app\.[EW]\d{0,3}")
# app_label.ModelName, as manage.py dumpdata takes it.
_MODEL_LABEL = re.compile(r"jira_app\.[A-Z]\w+")
LOGGERS = {"jira_app.security"}
# The shell a reader's terminal runs the README's commands in.
BASH = shutil.which("bash") or "/bin/bash"


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@dataclass(frozen=True)
class Doc:
    path: Path
    text: str

    @property
    def prose(self) -> str:
        """The text outside fenced code blocks."""
        return _FENCE.sub("", self.text)

    def marked_blocks(self, kind: str) -> list[tuple[str, str]]:
        """(language, code) of each block marked ``<!-- docs-test: kind -->``."""
        return [(language, code) for marker, language, code in _MARKED_FENCE.findall(self.text) if marker == kind]

    def marked_block(self, kind: str) -> str:
        blocks = self.marked_blocks(kind)
        assert len(blocks) == 1, f"{_doc_id(self.path)}: expected one block marked {kind!r}, found {len(blocks)}"
        return blocks[0][1].strip()


def _doc(path: Path) -> Doc:
    return Doc(path, path.read_text(encoding="utf-8"))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", _doc(path).prose, re.MULTILINE):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("path", DOCS, ids=_doc_id)
def test_every_relative_link_resolves(path):
    broken = []
    for target in _LINK.findall(_doc(path).prose):
        if urlsplit(target).scheme:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    assert broken == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                found = getattr(found, name)
        except AttributeError:
            return False
        return True
    return False


def _is_model(label: str) -> bool:
    try:
        apps.get_model(label)
    except LookupError:
        return False
    return True


def _named_in_code(name: str) -> bool:
    return any(f'"{name}"' in path.read_text() for path in (ROOT / "jira_app").rglob("*.py"))


@pytest.mark.parametrize("path", DOCS, ids=_doc_id)
def test_every_module_function_and_path_named_exists(path):
    missing = []
    for span in _CODE_SPAN.findall(_doc(path).prose):
        for dotted in _DOTTED.findall(span):
            if _CHECK_ID.fullmatch(dotted):  # present in checks.py as an id such as "E001"
                known = dotted.removeprefix("jira_app.") in (ROOT / "jira_app" / "checks.py").read_text()
            elif _MODEL_LABEL.fullmatch(dotted):
                known = _is_model(dotted)
            elif dotted in LOGGERS:
                known = _named_in_code(dotted)
            else:
                known = _resolves(dotted)
            if not known:
                missing.append(dotted)
        for named in _PATH.findall(span):
            file_part, _, test = named.partition("::")
            file = ROOT / file_part
            has_test = not test or re.search(rf"^def {re.escape(test)}\(", file.read_text(), re.MULTILINE)
            if not (file.exists() and has_test):
                missing.append(named)
    assert missing == []


def _nox_sessions() -> set[str]:
    """Session names in noxfile.py: each @nox.session function, by its name= if it has one."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    sessions = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) != "nox.session":
                continue
            names = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
            sessions.add(names[0].value if names and isinstance(names[0], ast.Constant) else node.name)
    return sessions


@pytest.mark.parametrize("path", DOCS, ids=_doc_id)
def test_every_command_and_session_named_exists(path):
    text = _doc(path).text
    sessions, django_commands = _nox_sessions(), get_commands()
    missing = [f"python -m fake_jira {c}" for c in _FAKE_JIRA_COMMAND.findall(text) if c not in FAKE_JIRA_COMMANDS]
    for names in _NOX_SESSIONS.findall(text):
        missing += [f"nox -s {name}" for name in names.split() if name not in sessions]
    missing += [f"manage.py {c}" for c in _MANAGE_COMMAND.findall(text) if c not in django_commands]
    assert missing == []


# --- docs/protocol.md: the worked qsh example and the reason codes -------------------------------------------

PROTOCOL = ROOT / "docs" / "protocol.md"


def test_the_worked_qsh_example_is_what_the_app_computes():
    doc = _doc(PROTOCOL)
    base_path = urlsplit(doc.marked_block("qsh-base-url")).path
    method, target = doc.marked_block("qsh-request").split(" ", 1)
    path, _, query = target.partition("?")

    assert doc.marked_block("qsh-path") == qsh.canonical_path(path, base_path)
    assert doc.marked_block("qsh-query") == qsh.canonical_query(query)
    assert doc.marked_block("qsh-canonical") == qsh.canonical_request(method, path, query, base_path=base_path)
    assert doc.marked_block("qsh-hash") == qsh.query_string_hash(method, path, query, base_path=base_path)
    # And fake_jira's independent canonicaliser agrees, as Jira's would.
    assert doc.marked_block("qsh-hash") == tokens.query_string_hash(method, path, query, base_path=base_path)


def test_every_reason_code_the_app_returns_is_in_the_table():
    table = _doc(PROTOCOL).text.split("<!-- docs-test: reason-codes -->", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    codes = {cls.reason for cls in vars(exceptions).values() if isinstance(cls, type) and issubclass(cls, Exception)}
    codes = {code for code in codes if isinstance(code, str)}

    assert codes - documented == set()
    rows = {
        row.split("|")[2].strip(" `") for row in table.splitlines() if row.startswith("| 4") or row.startswith("| 5")
    }
    assert rows <= codes | {"invalid_token"}


# --- docs/mistakes.md: each "caught by" names real fake_jira check cases ---------------------------------


def _case_names() -> set[str]:
    descriptor = {"modules": {}, "lifecycle": {"disabled": "/disabled", "enabled": "/enabled"}}
    app = ConnectApp(descriptor=descriptor, transport=DjangoClientTransport(Client()))
    cases = [case for group in conformance.GROUPS for case in group.cases(app)]
    return {"descriptor"} | {case.name for case in cases if isinstance(case, conformance.Case)}


def test_every_check_case_the_mistakes_page_names_exists():
    names = _case_names()
    caught_by = re.findall(
        r"^\*\*Caught by\.\*\*(.*?)(?=\n\n|\Z)", _doc(ROOT / "docs" / "mistakes.md").text, re.M | re.S
    )
    assert len(caught_by) == 5
    unknown = []
    for paragraph in caught_by:
        for span in _CODE_SPAN.findall(paragraph):
            if span == "fake_jira check" or "/" in span or _DOTTED.fullmatch(span):
                continue  # the tool itself, test files and modules (checked above)
            family = span.removesuffix(" ...")
            if not (span in names or (span != family and any(name.startswith(family + " ") for name in names))):
                unknown.append(span)
    assert unknown == []


# --- Runnable blocks --------------------------------------------------------------------------------------


def _run_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<docs block>", "exec"), {"__name__": "__docs__"})  # noqa: S102
    return out.getvalue()


def test_the_python_blocks_run_and_print_what_the_docs_say():
    doc = _doc(PROTOCOL)
    [(language, code)] = doc.marked_blocks("run")

    assert language == "python"
    assert _run_python(code).strip() == doc.marked_block("qsh-hash")


@pytest.mark.django_db
def test_the_readme_fake_jira_example_runs(fake_jira, settings):
    settings.ATLASSIAN_CONNECT_INSTALL_KEYS_URL = fake_jira.keys_url
    settings.ATLASSIAN_CONNECT_BASE_URL = "http://testserver"
    [(_, code)] = _doc(ROOT / "README.md").marked_blocks("run-with-fixtures")
    namespace: dict[str, object] = {}
    exec(compile(code, "<README block>", "exec"), namespace)  # noqa: S102

    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    test(fake_jira, DjangoClientTransport(Client()))  # type: ignore[operator]

    [installation] = fake_jira.site("acme").state.installations.values()
    assert len(installation.previous_secrets) == 1  # the example's reinstall rotated the secret


def _shell(code: str, ports: dict[str, int]) -> str:
    """A README shell block as this test runs it: this environment stands for .venv, and the ports are free."""
    code = code.replace(". .venv/bin/activate && ", "")
    for name, port in ports.items():
        code = re.sub(rf"\b{name}=\d+", f"{name}={port}", code)
    return "set -eu\n" + code


@contextlib.contextmanager
def _background(code: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(  # noqa: S603
        [BASH, "-c", code],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def _wait_for(url: str, process: subprocess.Popen[str], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}"
        )
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds:g} s")


def test_running_the_app_yourself_works_as_written(tmp_path):
    """README, "Running the app yourself": fake_jira's server, the app pointed at it, an install, a page."""
    readme = _doc(ROOT / "README.md")
    servers = [code for language, code in readme.marked_blocks("run-background") if language == "sh"]
    [(language, steps)] = readme.marked_blocks("run")
    assert len(servers) == 2
    assert language == "sh"
    ports = {"APP_PORT": free_port(), "JIRA_PORT": free_port()}
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ENVIRONMENT": "dev",
        "WEB_CONCURRENCY": "1",
    }
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr

    with _background(_shell(servers[0], ports), env) as jira, _background(_shell(servers[1], ports), env) as app:
        _wait_for(f"http://127.0.0.1:{ports['JIRA_PORT']}/_fake/sites", jira)
        _wait_for(f"http://127.0.0.1:{ports['APP_PORT']}/jira/atlassian-connect.json", app)
        done = subprocess.run(  # noqa: S603
            [BASH, "-c", _shell(steps, ports)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("install on acme (")
        assert lines[0].endswith("the app answered HTTP 204")
        assert lines[1] == "page hello on acme: the app answered HTTP 200"
        url = lines[2].removeprefix("open it within 180 s: ")
        page = requests.get(url, timeout=10)  # what the browser gets

    assert page.status_code == 200
    assert f'<dd id="site">http://127.0.0.1:{ports["JIRA_PORT"]}/sites/acme</dd>' in page.text
