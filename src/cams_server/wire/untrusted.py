"""Parsing what a client sent: JSON that says what is wrong with it, never more.

`json.loads` raises `RecursionError`, not `ValueError`, for a document nested deeper
than the interpreter's stack (`[` x 1000): a 500 for any caller that catches only
`ValueError`. Every JSON a client chooses (a session policy, an admin or webhook
body, a line of an events file) is read here.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_json"]


def parse_json(text: str | bytes) -> Any:
    """The decoded document; `ValueError` for anything that is not one (nesting too deep
    included)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
