"""The demo point-of-sale source database that ``make demo``, the tests and the image extract from.

It lives outside ``plugins/``: Airflow imports what is in its plugins folder, and the generator is
a development tool, not part of the shipped package. ``python -m scripts.demo_source --help``.
"""

from __future__ import annotations

from scripts.demo_source.build import CUSTOMERS, ITEMS, SALES_PER_MONTH, TABLES, generate, main

__all__ = ["CUSTOMERS", "ITEMS", "SALES_PER_MONTH", "TABLES", "generate", "main"]
