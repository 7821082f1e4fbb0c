"""Kairos' version: defined here once, read by the packaging (``pyproject.toml``) and
printed by ``kairos --version``."""

__version__ = "0.1.0"
