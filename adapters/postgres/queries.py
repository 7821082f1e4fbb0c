"""SQL lives in ``queries.sql`` as named blocks (``-- name: x``), loaded once."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("queries.sql")
_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    text = _FILE.read_text(encoding="utf-8")
    parts = _BLOCK.split(text)
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise ValueError(f"queries.sql defines {name!r} twice")
        blocks[name] = body.strip().rstrip(";")
    return blocks


def sql(name: str) -> str:
    return _load()[name]
