"""The REST API's public names: ``create_app`` (the app factory, ``app.py``) and the
authenticators it takes (``deps.py``)."""

from __future__ import annotations

from adapters.http.app import create_app
from adapters.http.deps import Authenticator, bearer, header_principal

__all__ = ["Authenticator", "bearer", "create_app", "header_principal"]
