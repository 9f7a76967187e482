"""Log lines that a request cannot forge: control characters from paths, headers and tenant fields are escaped.

A path, a header or a tenant's ``baseUrl`` may hold a newline or an ANSI escape; written raw, it starts a line
of the attacker's choosing in the log. ``EscapingFormatter`` is the app's formatter (``LOGGING`` in the
settings) and gunicorn's (``gunicorn.conf.py``), so every line either writes goes through the one ``escape``.
This module imports nothing from Django: gunicorn's master process loads it without Django.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logging import _SysExcInfoType

# C0 controls, DEL and C1 controls, written as Python writes them in a string literal.
_ESCAPES = {code: repr(chr(code))[1:-1] for code in [*range(0x20), *range(0x7F, 0xA0)]}
# Unicode line and paragraph separators end a line too, in some log viewers.
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_MULTILINE_ESCAPES = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


def escape(text: str) -> str:
    """``text`` on one line: every control character written as its backslash escape."""
    return text.translate(_ESCAPES)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose message and fields are escaped; a traceback keeps its own line breaks, nothing else."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))

    def formatException(self, ei: _SysExcInfoType) -> str:
        return super().formatException(ei).translate(_MULTILINE_ESCAPES)

    def formatStack(self, stack_info: str) -> str:
        return super().formatStack(stack_info).translate(_MULTILINE_ESCAPES)
