"""The locations, customers and items tables."""

from __future__ import annotations

import datetime
import random
import sqlite3

from scripts.demo_source.database import Writer
from scripts.demo_source.reference import (
    ADJECTIVES,
    CATEGORIES,
    CATEGORY_WEIGHTS,
    EMAIL_DOMAINS,
    EMOJI,
    FIRST_NAMES,
    LAST_NAMES,
    LOCATIONS,
    NOUNS,
    TIER_WEIGHTS,
    TIERS,
)
from scripts.demo_source.values import DAY, Clock, ascii_slug, money

#: Catalogue size (not scaled).
ITEMS = 800


def gen_locations(conn: sqlite3.Connection, start: datetime.date) -> int:
    rows = []
    for location_id, (name, city, country, _cur, opened, active, _w) in enumerate(LOCATIONS, 1):
        opened_on = None if opened is None else (start + datetime.timedelta(days=opened)).isoformat()
        rows.append((location_id, name, city, country, opened_on, int(active)))
    writer = Writer(conn, "locations", 6)
    writer.add_many(rows)
    writer.flush()
    return writer.count


def gen_customers(
    conn: sqlite3.Connection, rng: random.Random, clock: Clock, n: int, range_seconds: int
) -> list[int]:
    """Insert customers; return their ``created_at`` offsets (sorted by id)."""
    history = 3 * 365 * DAY
    created = sorted(
        rng.randrange(0, range_seconds) if rng.random() < 0.10 else -rng.randrange(1, history + 1)
        for _ in range(n)
    )
    writer = Writer(conn, "customers", 7)
    rows = []
    for customer_id, created_off in enumerate(created, 1):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        if rng.random() < 0.005:
            first = f"{first} {rng.choice(EMOJI)}"
        if rng.random() < 0.15:
            email = None
        else:
            local = ".".join(p for p in (ascii_slug(first), ascii_slug(last)) if p) or "user"
            email = f"{local}{customer_id}@{rng.choice(EMAIL_DOMAINS)}"
        tier = None if rng.random() < 0.30 else rng.choices(TIERS, TIER_WEIGHTS)[0]
        r = rng.random()
        if r < 0.25:
            # modified during the generated period
            lo = max(created_off, 0)
            modified_off = rng.randrange(lo, range_seconds) if lo < range_seconds else created_off
        elif r < 0.60 or created_off >= 0:
            modified_off = created_off
        else:
            modified_off = rng.randrange(created_off, 0)
        rows.append((customer_id, first, last, email, tier, clock.ts(created_off), clock.ts(modified_off)))
    writer.add_many(rows)
    writer.flush()
    return created


def gen_items(conn: sqlite3.Connection, rng: random.Random) -> list[tuple[int, int, bool]]:
    """Insert the catalogue; return ``(item_id, price_cents, discontinued)``."""
    writer = Writer(conn, "items", 7)
    catalogue: list[tuple[int, int, bool]] = []
    rows = []
    for item_id in range(1, ITEMS + 1):
        category, prefix, lo, hi = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        if category is not None and rng.random() < 0.04:
            category = None  # uncategorised, but keeps its sku prefix
        description = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[category])}"
        price_cents = rng.randrange(lo, hi + 1)
        if rng.random() < 0.6:
            price_cents = max(lo, price_cents - price_cents % 10 - 1 + 10)  # x.x9 pricing
        # kg in whole grams (exact after repr, see money)
        weight = None if rng.random() < 0.10 else rng.randrange(5, 25_000) / 1000
        discontinued = rng.random() < 0.05
        sku = f"{prefix}-{item_id:05d}"
        rows.append((item_id, sku, description, category, money(price_cents), weight, int(discontinued)))
        catalogue.append((item_id, price_cents, discontinued))
    writer.add_many(rows)
    writer.flush()
    return catalogue
