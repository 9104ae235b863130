"""``python -m pbx``."""

from __future__ import annotations

import sys

from pbx.cli import main

sys.exit(main())
