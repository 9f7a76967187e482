"""Log lines a request cannot forge: the app's formatter escapes control characters from any field."""

from __future__ import annotations

import logging
import sys

from jira_app.log import EscapingFormatter, escape


def record(msg: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("jira_app.views", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_control_characters_in_a_message_are_escaped_onto_one_line():
    formatter = EscapingFormatter("%(levelname)s %(message)s")

    line = formatter.format(record("Not Found: %s", "/jira/x\n2026-11-30 ERROR forged\r\x1b[2J\x85\u2028"))

    assert line == "WARNING Not Found: /jira/x\\n2026-11-30 ERROR forged\\r\\x1b[2J\\x85\\u2028"


def test_text_without_control_characters_is_left_alone():
    assert escape("https://acme.atlassian.net/wiki é ü 日本 \\ ok") == "https://acme.atlassian.net/wiki é ü 日本 \\ ok"


def test_a_traceback_keeps_its_line_breaks_but_nothing_else_raw():
    formatter = EscapingFormatter("%(message)s")
    try:
        raise ValueError("bad\rvalue\x1b[2J")
    except ValueError:
        exc_info = sys.exc_info()

    text = formatter.format(record("failed: %s", "a\nb", exc_info=exc_info))

    first, *rest = text.split("\n")
    assert first == "failed: a\\nb"
    assert rest[0] == "Traceback (most recent call last):"
    assert "ValueError: bad\\rvalue\\x1b[2J" in text
    assert "\r" not in text
    assert "\x1b" not in text
