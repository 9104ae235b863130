"""What the application serves to browsers, from the package itself (no CDN, no build
step): the pages under ``pages/`` (plain HTML) and their ES modules and styles under
``static/``, with the vendored front-end libraries in ``static/vendor/`` (each with its
licence and the ``SOURCE`` it was taken from). The API serves ``static/`` at ``/static``.
"""

from __future__ import annotations

from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent
STATIC_ROOT = WEB_ROOT / "static"
"""The directory served at ``/static``."""
PAGES = WEB_ROOT / "pages"
"""The pages' HTML, one file per page (``wallboard.html`` at ``/wallboard``)."""
