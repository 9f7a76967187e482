"""``mock_jira``: one entry point that starts a FakeJira and routes in-process ``requests`` calls to it.

Usable as a context manager (``with mock_jira() as fake:``) or as a function decorator (``@mock_jira``),
which passes the FakeJira as the last positional argument, as ``unittest.mock.patch`` passes its mock.
Nesting is safe: an inner ``mock_jira`` joins the active one (the same FakeJira, the same router), and only
the outermost exit stops routing and resets the state, so a fixture and a decorator can share a test.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from fake_jira.simulator import FakeJira
from fake_jira.transports import ResponsesRouter

R = TypeVar("R")

_lock = threading.Lock()
_depth = 0
_active: tuple[FakeJira, ResponsesRouter] | None = None


def _enter() -> FakeJira:
    global _depth, _active
    with _lock:
        if _active is None:
            fake = FakeJira()
            router = ResponsesRouter(fake)
            router.start()
            _active = (fake, router)
        _depth += 1
        return _active[0]


def _exit() -> None:
    global _depth, _active
    with _lock:
        _depth -= 1
        if _depth == 0 and _active is not None:
            fake, router = _active
            _active = None
            router.stop()
            fake.reset()


class MockJira:
    """The object ``mock_jira()`` returns: enter it for a FakeJira, or decorate a function with it."""

    def __enter__(self) -> FakeJira:
        return _enter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        _exit()

    def __call__(self, func: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> R:
            with self as fake:
                return func(*args, fake, **kwargs)

        # Hide the injected parameter, so pytest does not look for a fixture of that name.
        signature = inspect.signature(func)
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[:-1]
        )
        return wrapper


@overload
def mock_jira(func: None = None) -> MockJira: ...
@overload
def mock_jira(func: Callable[..., R]) -> Callable[..., R]: ...
def mock_jira(func: Callable[..., R] | None = None) -> MockJira | Callable[..., R]:
    """Start a FakeJira with its ``responses`` router; see the module docstring for the three ways to use it."""
    return MockJira() if func is None else MockJira()(func)
