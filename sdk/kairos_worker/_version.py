"""The SDK's version, read by its packaging (``sdk/pyproject.toml``); it moves apart from
the server's, as the REST contract it speaks allows."""

__version__ = "0.1.0"
