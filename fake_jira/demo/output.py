"""How the story looks on screen: lines wrapped at 100 columns, colour only on a terminal."""

from __future__ import annotations

import textwrap

WIDTH = 100
# Continuation lines of a step start under its request, after the mark and the site's name.
STEP_INDENT = " " * 11
EXPLAIN_INDENT = " " * 13
_NO_BREAK = "\u00a0"  # textwrap never breaks here; printed as a space


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self._paint("32", text)

    def bad(self, text: str) -> str:
        return self._paint("31;1", text)

    def dim(self, text: str) -> str:
        return self._paint("2", text)

    def bold(self, text: str) -> str:
        return self._paint("1", text)


def keep_together(text: str) -> str:
    """``text`` as one unbreakable word for wrap()."""
    return text.replace(" ", _NO_BREAK)


def wrap(text: str, indent: str, *, first_indent: str = "", width: int = WIDTH) -> list[str]:
    """``text`` in lines of at most ``width`` columns; words longer than a line (a canonical request, a hash
    list) are cut where they must be."""
    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=first_indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=True,
    )
    return [line.replace(_NO_BREAK, " ") for line in lines] or [first_indent]
