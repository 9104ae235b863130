"""What the application serves to browsers, from the package itself (no CDN, no build
step): the vendored front-end libraries under ``vendor/`` (each with its licence and
the ``SOURCE`` it was taken from), served by the API under ``/static/vendor``."""

from __future__ import annotations

from pathlib import Path

VENDOR_ROOT = Path(__file__).resolve().parent / "vendor"
"""The directory served at ``/static/vendor``."""
