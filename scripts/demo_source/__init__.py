"""Deterministic generator of a demo point-of-sale *source* database (SQLite): the source that
``make demo``, the tests and the Astro image extract from.

It lives outside ``plugins/``: Airflow imports what is in its plugins folder, and the generator
is a development and build tool, not part of the shipped package.

The generated database plays the role of an operational POS system that
Tributary extracts from.  It contains six tables::

    locations      ~12 shops (unicode names, some NULL cities)
    customers      ~5,000 x scale (unicode names, NULL e-mails / tiers)
    items          ~800 catalogue items (NULL weights / categories)
    sales          ~40,000 x scale per month, sales_date increasing with id
    sales_items    1-4 lines per sale
    payments       1 payment per sale, sometimes 2 (split tender)

Everything is derived from ``random.Random`` instances seeded from ``seed``,
so two runs with the same arguments produce identical table contents.

Value storage rules (the extractor relies on them):

* ``TIMESTAMP`` -> TEXT ``'YYYY-MM-DD HH:MM:SS'`` (whole seconds),
* ``DATE`` -> TEXT ``'YYYY-MM-DD'``,
* ``BOOLEAN`` -> INTEGER 0/1,
* ``DECIMAL(p,s)`` -> stored by SQLite as REAL (the column has the normal
  NUMERIC affinity; whole numbers such as ``12.0`` become INTEGER ``12``).
  Values are generated in whole cents (``s = 2``) or grams (``s = 3``), so
  ``repr(value)`` round-trips exactly and
  ``Decimal(repr(value)).quantize(Decimal(1).scaleb(-s))`` gives back the
  exact decimal (e.g. ``12.3 -> Decimal('12.30')``).

The tables are created with the DDL in :data:`TABLES` as is, so
``PRAGMA integrity_check`` reports ``ok``.

Referential rules:

* ``sales_items.line_amount = quantity * unit_price - coalesce(discount, 0)``,
* ``sales.total_amount = sum(line_amount)`` of the sale,
* ``sales.tax_amount = round_half_up(total_amount * 0.2, 2)``,
* ``sum(payments.amount) = sales.total_amount`` per sale,
* ``customers.modified_at >= customers.created_at``.

Usage::

    python -m scripts.demo_source --out /tmp/pos.sqlite \
        [--start 2025-01-01] [--months 4] [--seed 7] [--scale 1.0]
"""

from __future__ import annotations

from scripts.demo_source.build import CUSTOMERS, generate, main
from scripts.demo_source.database import TABLES
from scripts.demo_source.dimensions import ITEMS
from scripts.demo_source.sales import SALES_PER_MONTH

__all__ = ["CUSTOMERS", "ITEMS", "SALES_PER_MONTH", "TABLES", "generate", "main"]
