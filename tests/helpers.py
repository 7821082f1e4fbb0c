"""The builders moved to tests/builders.py; this name stays only for tests/api, which is
being rewritten and imports ``leading`` from here."""

from tests.builders import leading

__all__ = ["leading"]
