"""Loads the shared fixtures in fixtures/ (documented in fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_qsh_vectors() -> list[dict]:
    return json.loads((FIXTURES / "qsh_vectors.json").read_text(encoding="utf-8"))["vectors"]
