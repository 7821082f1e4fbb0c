"""The web dashboard at ``/ui``: server-rendered pages over the same use cases, tokens
and scopes as the REST API, mounted into the API's app by ``install`` (``app.py``)."""

from adapters.http.ui.app import install

__all__ = ["install"]
