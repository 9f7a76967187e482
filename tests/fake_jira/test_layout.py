"""fake_jira's modules import one another one way only, and never the app they test."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import fake_jira

PACKAGE = Path(fake_jira.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module this file imports, inside ``if TYPE_CHECKING:`` and functions too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported(path) if m in modules and m != name} for name, path in modules.items()}


def test_imports_run_one_way():
    # A package's __init__ re-exports its modules: it stands above them, not beside them.
    edges = {
        name: {m for m in deps if not (m.startswith(name + ".") or name.startswith(m + "."))}
        for name, deps in graph().items()
    }
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None
    core = ["fake_jira.transports", "fake_jira.descriptor", "fake_jira.sites", "fake_jira.urls"]
    core += ["fake_jira.simulator", "fake_jira.control"]
    assert [name for name in order if name in core] == core


def test_fake_jira_never_imports_the_app_it_tests():
    for path in PACKAGE.rglob("*.py"):
        assert not {name for name in imported(path) if name.split(".")[0] in ("jira_app", "mysite")}, path
