"""``python -m scripts.demo_source``: generate the demo source database."""

from __future__ import annotations

import sys

from scripts.demo_source import main

sys.exit(main())
