"""A partial change: ``KEEP`` marks a field an update leaves as it is, distinct from
every value the field can take (``None`` included: "no concurrency limit" is a value)."""

from __future__ import annotations

import enum
from typing import Final, TypeVar

T = TypeVar("T")


class Keep(enum.Enum):
    KEEP = "keep"

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep.KEEP


def kept(new: T | Keep, old: T) -> T:
    """``new`` unless it is ``KEEP``, else ``old``."""
    return old if isinstance(new, Keep) else new
