"""Deterministic generator of a demo point-of-sale *source* database (SQLite).

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

import argparse
import bisect
import calendar
import datetime
import logging
import os
import random
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["CUSTOMERS", "ITEMS", "SALES_PER_MONTH", "TABLES", "generate", "main"]

#: Sales generated per month at ``scale=1.0``.
SALES_PER_MONTH = 40_000
#: Customers generated at ``scale=1.0``.
CUSTOMERS = 5_000
#: Catalogue size (not scaled).
ITEMS = 800

_CHUNK = 10_000
_DAY = 86_400
_OPEN_SECONDS = 7 * 3600  # shops open 07:00
_CLOSE_SECONDS = 23 * 3600  # last sale 22:59:59
_TAX_RATE = Decimal("0.2")
_CENT = Decimal("0.01")

# --------------------------------------------------------------------------
# Schema (created verbatim; DECIMAL columns get SQLite's NUMERIC affinity).
# --------------------------------------------------------------------------

TABLES: dict[str, str] = {
    "locations": (
        "CREATE TABLE locations ("
        "location_id INTEGER PRIMARY KEY, "
        "name VARCHAR(100) NOT NULL, "
        "city VARCHAR(60), "
        "country CHAR(2) NOT NULL, "
        "opened_on DATE, "
        "is_active BOOLEAN NOT NULL)"
    ),
    "customers": (
        "CREATE TABLE customers ("
        "customer_id INTEGER PRIMARY KEY, "
        "first_name VARCHAR(50) NOT NULL, "
        "last_name VARCHAR(50) NOT NULL, "
        "email VARCHAR(120), "
        "loyalty_tier VARCHAR(10), "
        "created_at TIMESTAMP NOT NULL, "
        "modified_at TIMESTAMP NOT NULL)"
    ),
    "items": (
        "CREATE TABLE items ("
        "item_id INTEGER PRIMARY KEY, "
        "sku VARCHAR(20) NOT NULL UNIQUE, "
        "description TEXT NOT NULL, "
        "category VARCHAR(30), "
        "unit_price DECIMAL(10,2) NOT NULL, "
        "weight_kg DECIMAL(8,3), "
        "is_discontinued BOOLEAN NOT NULL)"
    ),
    "sales": (
        "CREATE TABLE sales ("
        "id INTEGER PRIMARY KEY, "
        "sales_no VARCHAR(20) NOT NULL, "
        "location_id INTEGER NOT NULL, "
        "customer_id BIGINT, "
        "sales_date TIMESTAMP NOT NULL, "
        "business_date DATE NOT NULL, "
        "total_amount DECIMAL(15,2) NOT NULL, "
        "tax_amount DECIMAL(15,2) NOT NULL, "
        "payment_type VARCHAR(10) NOT NULL, "
        "is_void BOOLEAN NOT NULL, "
        "remark TEXT)"
    ),
    "sales_items": (
        "CREATE TABLE sales_items ("
        "sales_item_id INTEGER PRIMARY KEY, "
        "sales_id INTEGER NOT NULL, "
        "line_no INTEGER NOT NULL, "
        "item_id INTEGER NOT NULL, "
        "quantity INTEGER NOT NULL, "
        "unit_price DECIMAL(10,2) NOT NULL, "
        "discount DECIMAL(10,2), "
        "line_amount DECIMAL(15,2) NOT NULL, "
        "sales_date TIMESTAMP NOT NULL)"
    ),
    "payments": (
        "CREATE TABLE payments ("
        "payment_id INTEGER PRIMARY KEY, "
        "sales_id INTEGER NOT NULL, "
        "paid_at TIMESTAMP NOT NULL, "
        "method VARCHAR(10) NOT NULL, "
        "amount DECIMAL(15,2) NOT NULL, "
        "card_last4 CHAR(4), "
        "currency CHAR(3) NOT NULL)"
    ),
}

_INDEXES: tuple[str, ...] = (
    "CREATE INDEX ix_sales_sales_date ON sales (sales_date)",
    "CREATE INDEX ix_sales_items_sales_date ON sales_items (sales_date)",
    "CREATE INDEX ix_payments_paid_at ON payments (paid_at)",
)

# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------

# name, city, country, currency, opened (days relative to start, None = NULL),
# is_active, relative sales weight.  Inactive shops and shops not yet opened
# get no sales.
_LOCATIONS: tuple[tuple[str, str | None, str, str, int | None, bool, float], ...] = (
    ("Café Zürich", "Zürich", "CH", "CHF", -3650, True, 1.10),
    ("Kraków Główny", "Kraków", "PL", "PLN", -2900, True, 1.00),
    ("東京 Shibuya", "東京", "JP", "JPY", -2100, True, 1.35),
    ("São Paulo Centro", "São Paulo", "BR", "BRL", -1800, True, 0.95),
    ("Berlin Mitte", "Berlin", "DE", "EUR", -4000, True, 1.20),
    ("Paris Châtelet", "Paris", "FR", "EUR", -1500, True, 1.05),
    ("London Bridge", "London", "GB", "GBP", None, True, 1.15),
    ("New York SoHo", "New York", "US", "USD", -900, True, 1.25),
    ("Airport Kiosk T2", None, "DE", "EUR", -600, True, 0.60),
    ("Online Store", None, "US", "USD", -1200, True, 0.80),
    ("Oslo Grünerløkka", "Oslo", "NO", "NOK", -2500, False, 0.0),
    ("København Nørrebro", "København", "DK", "DKK", 45, True, 0.90),
)

_FIRST_NAMES: tuple[str, ...] = (
    "José",
    "Zoë",
    "Łukasz",
    "Anna",
    "Mohammed",
    "Siobhán",
    "François",
    "Ingrid",
    "Björn",
    "Chloé",
    "Emma",
    "Liam",
    "Noah",
    "Olivia",
    "Mateo",
    "Sofía",
    "Jürgen",
    "Ayşe",
    "Åsa",
    "Dmitri",
    "Priya",
    "Kenji",
    "Yuki",
    "王",
    "李",
    "Zoltán",
    "Renée",
    "Ólafur",
    "Saoirse",
    "Grzegorz",
    "Małgorzata",
    "Þóra",
    "Ahmet",
    "Fatima",
    "João",
    "Inês",
    "美咲",
    "지민",
    "Michael",
    "Sarah",
    "David",
    "Laura",
    "Peter",
    "Julia",
    "Thomas",
    "Maria",
)
_LAST_NAMES: tuple[str, ...] = (
    "Ødegaard",
    "García",
    "Müller",
    "Kowalski",
    "Smith",
    "Nguyễn",
    "Dubois",
    "Rossi",
    "Jensen",
    "Schröder",
    "Wiśniewski",
    "O'Brien",
    "王",
    "张",
    "佐藤",
    "Öztürk",
    "Fernández",
    "Ivanov",
    "Novák",
    "Brontë",
    "Larsen",
    "Çelik",
    "Kim",
    "Silva",
    "Johansson",
    "Łęcki",
    "Johnson",
    "Brown",
    "Martin",
    "Bernard",
    "Weber",
    "Meyer",
    "Taylor",
    "Wilson",
    "Moreau",
)
_EMOJI: tuple[str, ...] = ("🙂", "🎉", "☕", "🌟", "🚲")
_TIERS: tuple[str, ...] = ("BRONZE", "SILVER", "GOLD", "PLATINUM")
_TIER_WEIGHTS: tuple[int, ...] = (50, 30, 15, 5)
_EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net", "mail.example")

# category, sku prefix, price range in cents
_CATEGORIES: tuple[tuple[str | None, str, int, int], ...] = (
    ("Coffee", "COF", 180, 650),
    ("Tea", "TEA", 150, 550),
    ("Bakery", "BAK", 90, 480),
    ("Sandwiches", "SND", 350, 1200),
    ("Beverages", "BEV", 120, 450),
    ("Snacks", "SNK", 50, 350),
    ("Merchandise", "MER", 800, 4500),
    ("Beans & Ground", "BNS", 900, 3800),
    ("Equipment", "EQP", 1500, 25000),
    ("Gift Cards", "GFT", 1000, 10000),
    (None, "GEN", 100, 2000),
)
_CATEGORY_WEIGHTS: tuple[int, ...] = (18, 10, 16, 10, 12, 10, 6, 6, 4, 2, 6)

_ADJECTIVES: tuple[str, ...] = (
    "Classic",
    "Organic",
    "Double",
    "Iced",
    "Smoked",
    "Spiced",
    "Large",
    "Small",
    "Seasonal",
    "Vegan",
    "Crème",
    "Jalapeño",
    "Café",
    "Nordic",
    "Premium",
    "Mini",
    "Frühstücks",
    "Matcha",
)
_NOUNS: dict[str | None, tuple[str, ...]] = {
    "Coffee": ("Espresso", "Latte", "Cappuccino", "Flat White", "Cortado", "Mocha"),
    "Tea": ("Earl Grey", "抹茶 Latte", "Chai", "Rooibos", "Sencha", "Mint Tea"),
    "Bakery": ("Croissant", "Brioche", "Crème brûlée", "Kanelbulle", "Bagel", "Pão de queijo"),
    "Sandwiches": ("Club Sandwich", "Smørrebrød", "Bánh mì", "Panini", "Wrap", "Croque Monsieur"),
    "Beverages": ("Lemonade", "Orange Juice", "Mineral Water", "Kombucha", "Cola", "Ayran"),
    "Snacks": ("Cookie", "Brownie", "Granola Bar", "Macaron", "Pretzel", "Onigiri おにぎり"),
    "Merchandise": ("Mug", "Tote Bag", "T-Shirt", "Thermos", "Cap", "Sticker Set ✨"),
    "Beans & Ground": ("House Blend 250g", "Single Origin 500g", "Decaf 250g", "Espresso Roast 1kg"),
    "Equipment": ("French Press", "Pour-Over Kit", "Grinder", "Moka Pot", "Scale", "Kettle"),
    "Gift Cards": ("Gift Card", "Gift Card 🎁", "Voucher"),
    None: ("Misc Item", "Sample", "Seasonal Special", "Bundle"),
}

_ASCII_REMARKS: tuple[str, ...] = (
    "customer requested receipt by email",
    "loyalty card not present",
    "manager override",
    "price match applied",
    "takeaway",
    "delivery order",
    "staff meal",
    "extra napkins",
    "birthday discount",
    "no bag needed",
    "paid exact change",
    "order for pickup at 5pm",
)
_UNICODE_REMARKS: tuple[str, ...] = (
    "Kunde möchte Quittung per E-Mail",
    "🎉 birthday discount",
    "领取发票",
    "お釣りは結構です",
    "Zahlung über Terminal 2 ✔",
    "Façade delivery — fragile ☕",
    "Пакет не нужен",
    "cliente pediu nota fiscal çom CPF",
    "großer Becher, bitte 🙏",
    "영수증 필요 없음",
)
_VOID_REMARKS: tuple[str, ...] = (
    "voided: customer changed mind",
    "voided: wrong item scanned",
    "voided: card declined",
    "storniert – Fehlbuchung",
)

_WEEKDAY_FACTOR: tuple[float, ...] = (0.90, 0.85, 0.95, 1.00, 1.20, 1.35, 0.75)

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _rng(seed: int, stream: str) -> random.Random:
    """Independent, reproducible random stream per table."""
    return random.Random(f"tributary-demo:{seed}:{stream}")


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last))


def _money(cents: int) -> float:
    """Integer cents -> the float nearest to ``cents / 100`` (``1230 -> 12.3``).

    True division of ints is correctly rounded, so ``repr`` of the result is
    the shortest decimal string and quantizes back to the exact cents.
    """
    return cents / 100


def _tax(total_cents: int) -> float:
    """20 % tax rounded half-up to cents (see :func:`_money`)."""
    total = Decimal(total_cents).scaleb(-2)
    return float((total * _TAX_RATE).quantize(_CENT, rounding=ROUND_HALF_UP))


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights``
    (largest remainder, ties by position -> deterministic)."""
    wsum = sum(weights)
    raw = [total * w / wsum for w in weights]
    parts = [int(x) for x in raw]
    rest = total - sum(parts)
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


class _Clock:
    """Formats offsets (seconds since ``start`` midnight) as TIMESTAMP text
    without going through ``datetime`` for every row."""

    def __init__(self, start: datetime.date, days: int) -> None:
        self._start = start
        self._days = [(start + datetime.timedelta(days=d)).isoformat() + " " for d in range(days)]
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def day(self, index: int) -> str:
        if 0 <= index < len(self._days):
            return self._days[index][:-1]
        return (self._start + datetime.timedelta(days=index)).isoformat()

    def ts(self, offset: int) -> str:
        d, s = divmod(offset, _DAY)
        if 0 <= d < len(self._days):
            return self._days[d] + self._hms[s]
        return f"{self.day(d)} {self._hms[s]}"


class _Writer:
    """Buffers rows per table and flushes them with ``executemany``."""

    def __init__(self, conn: sqlite3.Connection, table: str, ncols: int) -> None:
        self._conn = conn
        self.table = table
        self._sql = f"INSERT INTO {table} VALUES ({', '.join('?' * ncols)})"
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add_many(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self._conn.executemany(self._sql, self.rows)
            self.count += len(self.rows)
            self.rows = []


# ---------------------------------------------------------------------------
# Table generators
# ---------------------------------------------------------------------------


def _gen_locations(conn: sqlite3.Connection, start: datetime.date) -> int:
    rows = []
    for location_id, (name, city, country, _cur, opened, active, _w) in enumerate(_LOCATIONS, 1):
        opened_on = None if opened is None else (start + datetime.timedelta(days=opened)).isoformat()
        rows.append((location_id, name, city, country, opened_on, int(active)))
    writer = _Writer(conn, "locations", 6)
    writer.add_many(rows)
    writer.flush()
    return writer.count


def _gen_customers(
    conn: sqlite3.Connection, rng: random.Random, clock: _Clock, n: int, range_seconds: int
) -> list[int]:
    """Insert customers; return their ``created_at`` offsets (sorted by id)."""
    history = 3 * 365 * _DAY
    created = sorted(
        rng.randrange(0, range_seconds) if rng.random() < 0.10 else -rng.randrange(1, history + 1)
        for _ in range(n)
    )
    writer = _Writer(conn, "customers", 7)
    rows = []
    for customer_id, created_off in enumerate(created, 1):
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        if rng.random() < 0.005:
            first = f"{first} {rng.choice(_EMOJI)}"
        if rng.random() < 0.15:
            email = None
        else:
            local = ".".join(p for p in (_ascii_slug(first), _ascii_slug(last)) if p) or "user"
            email = f"{local}{customer_id}@{rng.choice(_EMAIL_DOMAINS)}"
        tier = None if rng.random() < 0.30 else rng.choices(_TIERS, _TIER_WEIGHTS)[0]
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


def _gen_items(conn: sqlite3.Connection, rng: random.Random) -> list[tuple[int, int, bool]]:
    """Insert the catalogue; return ``(item_id, price_cents, discontinued)``."""
    writer = _Writer(conn, "items", 7)
    catalogue: list[tuple[int, int, bool]] = []
    rows = []
    for item_id in range(1, ITEMS + 1):
        category, prefix, lo, hi = rng.choices(_CATEGORIES, _CATEGORY_WEIGHTS)[0]
        if category is not None and rng.random() < 0.04:
            category = None  # uncategorised, but keeps its sku prefix
        description = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[category])}"
        price_cents = rng.randrange(lo, hi + 1)
        if rng.random() < 0.6:
            price_cents = max(lo, price_cents - price_cents % 10 - 1 + 10)  # x.x9 pricing
        # kg in whole grams (exact after repr, see _money)
        weight = None if rng.random() < 0.10 else rng.randrange(5, 25_000) / 1000
        discontinued = rng.random() < 0.05
        sku = f"{prefix}-{item_id:05d}"
        rows.append((item_id, sku, description, category, _money(price_cents), weight, int(discontinued)))
        catalogue.append((item_id, price_cents, discontinued))
    writer.add_many(rows)
    writer.flush()
    return catalogue


def _gen_sales(
    conn: sqlite3.Connection,
    rng: random.Random,
    clock: _Clock,
    start: datetime.date,
    months: int,
    scale: float,
    customer_created: list[int],
    catalogue: list[tuple[int, int, bool]],
) -> tuple[int, int, int]:
    sales_w = _Writer(conn, "sales", 11)
    lines_w = _Writer(conn, "sales_items", 9)
    pay_w = _Writer(conn, "payments", 7)

    sellable = [(item_id, price, _money(price)) for item_id, price, disc in catalogue if not disc]
    # Zipf-like popularity over a shuffled catalogue
    popularity = list(range(len(sellable)))
    rng.shuffle(popularity)
    cum = 0.0
    item_cum: list[float] = []
    for rank in popularity:
        cum += 1.0 / (rank + 1) ** 0.8
        item_cum.append(cum)

    cum_total = item_cum[-1]
    last_item = len(item_cum) - 1
    bisect_right = bisect.bisect_right
    currencies = [loc[3] for loc in _LOCATIONS]
    random_ = rng.random
    choices = rng.choices
    randrange = rng.randrange
    n_customers_total = len(customer_created)

    sale_id = line_id = payment_id = 0
    for m in range(months):
        m_start = _add_months(start, m)
        m_end = _add_months(start, m + 1)
        ndays = (m_end - m_start).days
        month_total = round(SALES_PER_MONTH * scale * rng.uniform(0.95, 1.05))
        weights = [
            _WEEKDAY_FACTOR[(m_start + datetime.timedelta(days=d)).weekday()] * rng.uniform(0.85, 1.15)
            for d in range(ndays)
        ]
        per_day = _allocate(month_total, weights)
        month_first_id = sale_id + 1

        for d, n_day in enumerate(per_day):
            if n_day <= 0:
                continue
            day = m_start + datetime.timedelta(days=d)
            day_index = (day - start).days
            day_base = day_index * _DAY
            business_date = clock.day(day_index)
            ymd = business_date.replace("-", "")

            open_locs = [
                i for i, loc in enumerate(_LOCATIONS, 1) if loc[5] and (loc[4] is None or loc[4] <= day_index)
            ]
            loc_weights = [_LOCATIONS[i - 1][6] for i in open_locs]
            day_locs = choices(open_locs, loc_weights, k=n_day)

            span = _CLOSE_SECONDS - _OPEN_SECONDS
            if n_day <= span:
                seconds = sorted(rng.sample(range(span), n_day))
            else:
                seconds = sorted(randrange(span) for _ in range(n_day))

            # customers that exist at the start of the day
            known = bisect.bisect_right(customer_created, day_base)
            known = min(known, n_customers_total)
            seq_per_loc: dict[int, int] = {}

            sales_rows = []
            line_rows = []
            pay_rows = []
            for k in range(n_day):
                sale_id += 1
                loc = day_locs[k]
                seq = seq_per_loc.get(loc, 0) + 1
                seq_per_loc[loc] = seq
                offset = day_base + _OPEN_SECONDS + seconds[k]
                sales_date = clock.ts(offset)

                customer_id = None
                if known and random_() >= 0.30:
                    customer_id = 1 + int(random_() * known)

                # lines
                r = random_()
                nlines = 1 if r < 0.20 else 2 if r < 0.50 else 3 if r < 0.80 else 4
                picks = [
                    sellable[bisect_right(item_cum, random_() * cum_total, 0, last_item)]
                    for _ in range(nlines)
                ]
                total, lines = _sale_lines(random_, picks, line_id, sale_id, sales_date)
                line_id += len(lines)
                line_rows += lines

                ptype, payments = _payments(
                    random_, randrange, clock, payment_id, sale_id, offset, total, currencies[loc - 1]
                )
                payment_id += len(payments)
                pay_rows += payments

                is_void, remark = _void_and_remark(random_)

                sales_rows.append(
                    (
                        sale_id,
                        f"{loc:03d}-{ymd}-{seq:05d}",
                        loc,
                        customer_id,
                        sales_date,
                        business_date,
                        _money(total),
                        _tax(total),
                        ptype,
                        int(is_void),
                        remark,
                    )
                )

            sales_w.add_many(sales_rows)
            lines_w.add_many(line_rows)
            pay_w.add_many(pay_rows)

        log.info(
            "sales: %s generated %d sales (ids %d..%d), %d lines, %d payments so far",
            m_start.strftime("%Y-%m"),
            sale_id - month_first_id + 1,
            month_first_id,
            sale_id,
            line_id,
            payment_id,
        )

    for w in (sales_w, lines_w, pay_w):
        w.flush()
    return sales_w.count, lines_w.count, pay_w.count


# Each draws from the sales stream in the order the generator always has: changing the order
# changes every database generated.


def _sale_lines(
    random_: Callable[[], float],
    picks: list[tuple[int, int, float]],
    line_id: int,
    sale_id: int,
    sales_date: str,
) -> tuple[int, list[tuple[Any, ...]]]:
    """The sale's total in cents and its ``sales_items`` rows, numbered from ``line_id + 1``."""
    total = 0
    rows = []
    for line_no, (item_id, price, price_value) in enumerate(picks, 1):
        line_id += 1
        if random_() < 0.05:  # ad-hoc price change at the till
            price = max(1, price + int(price * (random_() * 0.2 - 0.1)))
            price_value = _money(price)
        qty = _quantity(random_)
        gross = qty * price
        disc, discount = _line_discount(random_, gross)
        amount = gross - disc
        total += amount
        rows.append(
            (line_id, sale_id, line_no, item_id, qty, price_value, discount, _money(amount), sales_date)
        )
    return total, rows


def _quantity(random_: Callable[[], float]) -> int:
    q = random_()
    if q < 0.62:
        return 1
    if q < 0.82:
        return 2
    if q < 0.91:
        return 3
    if q < 0.96:
        return 4
    return 5 + int(random_() * 8)


def _line_discount(random_: Callable[[], float], gross: int) -> tuple[int, float | None]:
    """The discount in cents, and as stored (None: no discount; 0.0: a discount of 0 %)."""
    if random_() < 0.30:
        pct = (0, 5, 10, 15, 20, 25)[int(random_() * 6)]
        disc = (gross * pct + 50) // 100
        return disc, _money(disc)
    return 0, None


def _payments(
    random_: Callable[[], float],
    randrange: Callable[[int], int],
    clock: _Clock,
    payment_id: int,
    sale_id: int,
    offset: int,
    total: int,
    currency: str,
) -> tuple[str, list[tuple[Any, ...]]]:
    """The sale's payment type and its ``payments`` rows, numbered from ``payment_id + 1``: one,
    or two for a split payment (a split of less than 2 cents is paid by card)."""
    r = random_()
    ptype = "CARD" if r < 0.55 else "CASH" if r < 0.80 else "MOBILE" if r < 0.94 else "SPLIT"
    paid = offset + 5 + int(random_() * 120)
    if ptype == "SPLIT" and total >= 2:
        first_method = "GIFTCARD" if random_() < 0.6 else "CASH"
        if first_method == "GIFTCARD":
            first_amount = min(total - 1, (1000, 2000, 2500, 5000)[int(random_() * 4)])
        else:
            first_amount = 1 + randrange(total - 1)
        first = (
            payment_id + 1,
            sale_id,
            clock.ts(paid),
            first_method,
            _money(first_amount),
            None if first_method == "CASH" else f"{int(random_() * 10_000):04d}",
            currency,
        )
        second = (
            payment_id + 2,
            sale_id,
            clock.ts(paid + 3 + int(random_() * 40)),
            "CARD",
            _money(total - first_amount),
            f"{int(random_() * 10_000):04d}",
            currency,
        )
        return ptype, [first, second]
    if ptype == "SPLIT":
        ptype = "CARD"
    only = (
        payment_id + 1,
        sale_id,
        clock.ts(paid),
        ptype,
        _money(total),
        None if ptype == "CASH" else f"{int(random_() * 10_000):04d}",
        currency,
    )
    return ptype, [only]


def _void_and_remark(random_: Callable[[], float]) -> tuple[bool, str | None]:
    """Whether the sale is void, and its remark: a void one always says why."""
    if random_() < 0.015:
        return True, _VOID_REMARKS[int(random_() * len(_VOID_REMARKS))]
    if random_() < 0.60:
        return False, None
    if random_() < 0.10:
        return False, _UNICODE_REMARKS[int(random_() * len(_UNICODE_REMARKS))]
    return False, _ASCII_REMARKS[int(random_() * len(_ASCII_REMARKS))]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def generate(
    path: str | os.PathLike[str],
    *,
    start: datetime.date = datetime.date(2025, 1, 1),
    months: int = 4,
    seed: int = 7,
    scale: float = 1.0,
) -> dict[str, int]:
    """(Re)create the demo POS database at ``path``.

    The file is built under ``path + '.tmp'`` and moved into place with
    :func:`os.replace`; an existing file at ``path`` is deleted first.

    :param path: target SQLite file.
    :param start: first day of the generated period.
    :param months: number of months (from ``start``) to generate sales for.
    :param seed: random seed; equal arguments give identical contents.
    :param scale: multiplier for customers and sales per month.
    :returns: row counts per table, e.g. ``{"sales": 160123, ...}``.
    """
    if isinstance(start, datetime.datetime):
        start = start.date()
    if not isinstance(start, datetime.date):
        raise TypeError(f"start must be a datetime.date, got {type(start).__name__}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")

    final = os.fspath(path)
    tmp = final + ".tmp"
    parent = os.path.dirname(os.path.abspath(final))
    os.makedirs(parent, exist_ok=True)
    for stale in (final, tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)

    end = _add_months(start, months)
    ndays = (end - start).days
    range_seconds = ndays * _DAY
    clock = _Clock(start, ndays + 2)
    n_customers = max(1, round(CUSTOMERS * scale))

    t0 = time.perf_counter()
    log.info(
        "generating demo POS database %s: start=%s months=%d seed=%d scale=%s",
        final,
        start.isoformat(),
        months,
        seed,
        scale,
    )
    counts: dict[str, int] = {}
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("BEGIN")
        for ddl in TABLES.values():
            conn.execute(ddl)

        counts["locations"] = _gen_locations(conn, start)
        log.info("locations: %d rows", counts["locations"])

        created = _gen_customers(conn, _rng(seed, "customers"), clock, n_customers, range_seconds)
        counts["customers"] = len(created)
        log.info("customers: %d rows", counts["customers"])

        catalogue = _gen_items(conn, _rng(seed, "items"))
        counts["items"] = len(catalogue)
        log.info("items: %d rows", counts["items"])

        n_sales, n_lines, n_payments = _gen_sales(
            conn, _rng(seed, "sales"), clock, start, months, scale, created, catalogue
        )
        counts["sales"] = n_sales
        counts["sales_items"] = n_lines
        counts["payments"] = n_payments
        log.info(
            "sales: %d rows, sales_items: %d rows, payments: %d rows",
            n_sales,
            n_lines,
            n_payments,
        )

        for ddl in _INDEXES:
            conn.execute(ddl)
        log.info("indexes: %d created", len(_INDEXES))
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    conn.close()
    os.replace(tmp, final)
    log.info(
        "demo POS database written to %s: %d rows in %.1fs",
        final,
        sum(counts.values()),
        time.perf_counter() - t0,
    )
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m scripts.demo_source``)."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo_source",
        description="Generate the deterministic Tributary demo POS source database (SQLite).",
    )
    parser.add_argument("--out", required=True, help="target SQLite file (recreated)")
    parser.add_argument(
        "--start",
        type=datetime.date.fromisoformat,
        default=datetime.date(2025, 1, 1),
        help="first day, YYYY-MM-DD (default: 2025-01-01)",
    )
    parser.add_argument("--months", type=int, default=4, help="months of sales (default: 4)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default: 1.0)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        counts = generate(args.out, start=args.start, months=args.months, seed=args.seed, scale=args.scale)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    for table, n in counts.items():
        print(f"{table}\t{n}")
    return 0
