"""SQL lives in ``queries.sql`` (and a few topic files beside it) as named blocks
(``-- name: x``), loaded once."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_FILES = tuple(Path(__file__).with_name(name) for name in ("queries.sql", "tzdata.sql"))
_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for path in _FILES:
        parts = _BLOCK.split(path.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in blocks:
                raise ValueError(f"SQL block {name!r} is defined twice")
            blocks[name] = body.strip().rstrip(";")
    return blocks


def sql(name: str) -> str:
    return _load()[name]
