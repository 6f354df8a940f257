"""The demo source's tables (created verbatim; DECIMAL columns get SQLite's NUMERIC affinity),
their indexes, and the buffered writer that fills them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

_CHUNK = 10_000

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

INDEXES: tuple[str, ...] = (
    "CREATE INDEX ix_sales_sales_date ON sales (sales_date)",
    "CREATE INDEX ix_sales_items_sales_date ON sales_items (sales_date)",
    "CREATE INDEX ix_payments_paid_at ON payments (paid_at)",
)


class Writer:
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
