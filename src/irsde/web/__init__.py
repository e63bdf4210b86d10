"""The local web demo behind ``irsde serve``: a FastAPI app and its hand-written page.

:func:`create_app` (in :mod:`irsde.web.app`) builds the app from :class:`Settings`; the
JSON API is documented there. The page (``index.html``, ``app.js``, ``style.css`` in
this folder) makes no external request and works offline. Importing this package
does not import FastAPI; its modules do.
"""

from __future__ import annotations

from .settings import Settings

__all__ = ["Settings"]
