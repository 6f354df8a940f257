"""Builds the demo source database: :func:`generate`, and :func:`main`, its command line."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sqlite3
import time
from collections.abc import Sequence

from scripts.demo_source.database import INDEXES, TABLES
from scripts.demo_source.dimensions import gen_customers, gen_items, gen_locations
from scripts.demo_source.sales import gen_sales
from scripts.demo_source.values import DAY, Clock, add_months, random_stream

log = logging.getLogger(__name__)

#: Customers generated at ``scale=1.0``.
CUSTOMERS = 5_000


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
    start = _checked(start, months, scale)
    final = os.fspath(path)
    tmp = final + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
    for stale in (final, tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)

    t0 = time.perf_counter()
    log.info(
        "generating demo POS database %s: start=%s months=%d seed=%d scale=%s",
        final,
        start.isoformat(),
        months,
        seed,
        scale,
    )
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        counts = _fill(conn, start, months, seed, scale)
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


def _checked(start: datetime.date, months: int, scale: float) -> datetime.date:
    """The first day as a date, once the arguments are known to be valid."""
    if isinstance(start, datetime.datetime):
        start = start.date()
    if not isinstance(start, datetime.date):
        raise TypeError(f"start must be a datetime.date, got {type(start).__name__}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return start


def _fill(
    conn: sqlite3.Connection, start: datetime.date, months: int, seed: int, scale: float
) -> dict[str, int]:
    """Create the tables in one transaction, fill them, index them; return the rows per table."""
    ndays = (add_months(start, months) - start).days
    clock = Clock(start, ndays + 2)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("BEGIN")
    for ddl in TABLES.values():
        conn.execute(ddl)

    counts: dict[str, int] = {"locations": gen_locations(conn, start)}
    log.info("locations: %d rows", counts["locations"])
    n_customers = max(1, round(CUSTOMERS * scale))
    created = gen_customers(conn, random_stream(seed, "customers"), clock, n_customers, ndays * DAY)
    counts["customers"] = len(created)
    log.info("customers: %d rows", counts["customers"])
    catalogue = gen_items(conn, random_stream(seed, "items"))
    counts["items"] = len(catalogue)
    log.info("items: %d rows", counts["items"])

    sales = gen_sales(conn, random_stream(seed, "sales"), clock, start, months, scale, created, catalogue)
    counts.update(zip(("sales", "sales_items", "payments"), sales, strict=True))
    log.info("sales: %d rows, sales_items: %d rows, payments: %d rows", *sales)

    for ddl in INDEXES:
        conn.execute(ddl)
    log.info("indexes: %d created", len(INDEXES))
    conn.execute("COMMIT")
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
