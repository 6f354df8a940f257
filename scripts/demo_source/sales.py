"""The sales, sales_items and payments tables."""

from __future__ import annotations

import bisect
import datetime
import logging
import random
import sqlite3
from collections.abc import Callable
from typing import Any

from scripts.demo_source.database import Writer
from scripts.demo_source.reference import (
    ASCII_REMARKS,
    LOCATIONS,
    UNICODE_REMARKS,
    VOID_REMARKS,
    WEEKDAY_FACTOR,
)
from scripts.demo_source.values import DAY, Clock, add_months, allocate, money, tax

log = logging.getLogger(__name__)

#: Sales generated per month at ``scale=1.0``.
SALES_PER_MONTH = 40_000
_OPEN_SECONDS = 7 * 3600  # shops open 07:00
_CLOSE_SECONDS = 23 * 3600  # last sale 22:59:59


def gen_sales(
    conn: sqlite3.Connection,
    rng: random.Random,
    clock: Clock,
    start: datetime.date,
    months: int,
    scale: float,
    customer_created: list[int],
    catalogue: list[tuple[int, int, bool]],
) -> tuple[int, int, int]:
    """Insert ``months`` of sales from ``start``; return the rows of sales, sales_items, payments."""
    sales = _Sales(conn, rng, clock, start, customer_created, catalogue)
    for month in range(months):
        sales.month(month, scale)
    return sales.flush()


class _Shelf:
    """The items on sale (not discontinued), with a Zipf-like popularity over a shuffled catalogue."""

    def __init__(self, rng: random.Random, catalogue: list[tuple[int, int, bool]]) -> None:
        self.items = [(item_id, price, money(price)) for item_id, price, disc in catalogue if not disc]
        popularity = list(range(len(self.items)))
        rng.shuffle(popularity)
        cum = 0.0
        self._cumulative: list[float] = []
        for rank in popularity:
            cum += 1.0 / (rank + 1) ** 0.8
            self._cumulative.append(cum)
        self._total = self._cumulative[-1]
        self._last = len(self._cumulative) - 1

    def pick(self, random_: Callable[[], float]) -> tuple[int, int, float]:
        """An item by popularity: ``(item_id, price in cents, price as stored)``."""
        return self.items[bisect.bisect_right(self._cumulative, random_() * self._total, 0, self._last)]


class _Sales:
    """Generates the sales month by month and day by day, numbering sales, lines and payments."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        rng: random.Random,
        clock: Clock,
        start: datetime.date,
        customer_created: list[int],
        catalogue: list[tuple[int, int, bool]],
    ) -> None:
        self._writers = (
            Writer(conn, "sales", 11),
            Writer(conn, "sales_items", 9),
            Writer(conn, "payments", 7),
        )
        self._rng = rng
        self._random = rng.random
        self._clock = clock
        self._start = start
        self._customer_created = customer_created
        self._shelf = _Shelf(rng, catalogue)
        self._currencies = [loc[3] for loc in LOCATIONS]
        self.sale_id = self.line_id = self.payment_id = 0

    def flush(self) -> tuple[int, int, int]:
        for writer in self._writers:
            writer.flush()
        sales, lines, payments = (writer.count for writer in self._writers)
        return sales, lines, payments

    def month(self, month: int, scale: float) -> None:
        """The sales of month number ``month`` from the start."""
        m_start = add_months(self._start, month)
        m_end = add_months(self._start, month + 1)
        month_total = round(SALES_PER_MONTH * scale * self._rng.uniform(0.95, 1.05))
        weights = [
            WEEKDAY_FACTOR[(m_start + datetime.timedelta(days=d)).weekday()] * self._rng.uniform(0.85, 1.15)
            for d in range((m_end - m_start).days)
        ]
        month_first_id = self.sale_id + 1
        for d, n_day in enumerate(allocate(month_total, weights)):
            if n_day > 0:
                self._day(m_start + datetime.timedelta(days=d), n_day)
        log.info(
            "sales: %s generated %d sales (ids %d..%d), %d lines, %d payments so far",
            m_start.strftime("%Y-%m"),
            self.sale_id - month_first_id + 1,
            month_first_id,
            self.sale_id,
            self.line_id,
            self.payment_id,
        )

    def _day(self, day: datetime.date, n_day: int) -> None:
        """``n_day`` sales on ``day``, spread over the shops open that day and their opening hours."""
        day_index = (day - self._start).days
        day_base = day_index * DAY
        business_date = self._clock.day(day_index)
        ymd = business_date.replace("-", "")

        open_locs = [
            i for i, loc in enumerate(LOCATIONS, 1) if loc[5] and (loc[4] is None or loc[4] <= day_index)
        ]
        loc_weights = [LOCATIONS[i - 1][6] for i in open_locs]
        day_locs = self._rng.choices(open_locs, loc_weights, k=n_day)
        seconds = self._seconds(n_day)

        # customers that exist at the start of the day
        known = bisect.bisect_right(self._customer_created, day_base)
        known = min(known, len(self._customer_created))
        seq_per_loc: dict[int, int] = {}

        rows: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
        for k in range(n_day):
            loc = day_locs[k]
            seq = seq_per_loc.get(loc, 0) + 1
            seq_per_loc[loc] = seq
            sale, lines, payments = self._sale(
                loc, f"{loc:03d}-{ymd}-{seq:05d}", day_base + _OPEN_SECONDS + seconds[k], business_date, known
            )
            rows[0].append(sale)
            rows[1].extend(lines)
            rows[2].extend(payments)
        for writer, table_rows in zip(self._writers, rows, strict=True):
            writer.add_many(table_rows)

    def _seconds(self, n_day: int) -> list[int]:
        """The sales' times of day, in seconds from opening, in order."""
        span = _CLOSE_SECONDS - _OPEN_SECONDS
        if n_day <= span:
            return sorted(self._rng.sample(range(span), n_day))
        return sorted(self._rng.randrange(span) for _ in range(n_day))

    def _sale(
        self, loc: int, sales_no: str, offset: int, business_date: str, known: int
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """One sale: its ``sales`` row, its ``sales_items`` rows and its ``payments`` rows."""
        random_ = self._random
        self.sale_id += 1
        sales_date = self._clock.ts(offset)

        customer_id = None
        if known and random_() >= 0.30:
            customer_id = 1 + int(random_() * known)

        r = random_()
        nlines = 1 if r < 0.20 else 2 if r < 0.50 else 3 if r < 0.80 else 4
        picks = [self._shelf.pick(random_) for _ in range(nlines)]
        total, lines = _sale_lines(random_, picks, self.line_id, self.sale_id, sales_date)
        self.line_id += len(lines)

        ptype, payments = _payments(
            random_,
            self._rng.randrange,
            self._clock,
            self.payment_id,
            self.sale_id,
            offset,
            total,
            self._currencies[loc - 1],
        )
        self.payment_id += len(payments)

        is_void, remark = _void_and_remark(random_)
        sale = (
            self.sale_id,
            sales_no,
            loc,
            customer_id,
            sales_date,
            business_date,
            money(total),
            tax(total),
            ptype,
            int(is_void),
            remark,
        )
        return sale, lines, payments


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
            price_value = money(price)
        qty = _quantity(random_)
        gross = qty * price
        disc, discount = _line_discount(random_, gross)
        amount = gross - disc
        total += amount
        rows.append(
            (line_id, sale_id, line_no, item_id, qty, price_value, discount, money(amount), sales_date)
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
        return disc, money(disc)
    return 0, None


def _payments(
    random_: Callable[[], float],
    randrange: Callable[[int], int],
    clock: Clock,
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
            money(first_amount),
            None if first_method == "CASH" else f"{int(random_() * 10_000):04d}",
            currency,
        )
        second = (
            payment_id + 2,
            sale_id,
            clock.ts(paid + 3 + int(random_() * 40)),
            "CARD",
            money(total - first_amount),
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
        money(total),
        None if ptype == "CASH" else f"{int(random_() * 10_000):04d}",
        currency,
    )
    return ptype, [only]


def _void_and_remark(random_: Callable[[], float]) -> tuple[bool, str | None]:
    """Whether the sale is void, and its remark: a void one always says why."""
    if random_() < 0.015:
        return True, VOID_REMARKS[int(random_() * len(VOID_REMARKS))]
    if random_() < 0.60:
        return False, None
    if random_() < 0.10:
        return False, UNICODE_REMARKS[int(random_() * len(UNICODE_REMARKS))]
    return False, ASCII_REMARKS[int(random_() * len(ASCII_REMARKS))]
