"""The web dashboard at ``/ui``: server-rendered pages over the same use cases, tokens
and scopes as the REST API (``pages.py``), mounted into the API's app by ``install``."""

from adapters.http.ui.pages import install

__all__ = ["install"]
