"""Tests for the deterministic demo POS source database generator."""

from __future__ import annotations

import datetime
import re
import sqlite3
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from scripts.demo_source import TABLES, generate, main

SCALE = 0.05
MONTHS = 3
START = datetime.date(2025, 1, 1)

EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "locations": [
        ("location_id", "INTEGER", False),
        ("name", "VARCHAR(100)", True),
        ("city", "VARCHAR(60)", False),
        ("country", "CHAR(2)", True),
        ("opened_on", "DATE", False),
        ("is_active", "BOOLEAN", True),
    ],
    "customers": [
        ("customer_id", "INTEGER", False),
        ("first_name", "VARCHAR(50)", True),
        ("last_name", "VARCHAR(50)", True),
        ("email", "VARCHAR(120)", False),
        ("loyalty_tier", "VARCHAR(10)", False),
        ("created_at", "TIMESTAMP", True),
        ("modified_at", "TIMESTAMP", True),
    ],
    "items": [
        ("item_id", "INTEGER", False),
        ("sku", "VARCHAR(20)", True),
        ("description", "TEXT", True),
        ("category", "VARCHAR(30)", False),
        ("unit_price", "DECIMAL(10,2)", True),
        ("weight_kg", "DECIMAL(8,3)", False),
        ("is_discontinued", "BOOLEAN", True),
    ],
    "sales": [
        ("id", "INTEGER", False),
        ("sales_no", "VARCHAR(20)", True),
        ("location_id", "INTEGER", True),
        ("customer_id", "BIGINT", False),
        ("sales_date", "TIMESTAMP", True),
        ("business_date", "DATE", True),
        ("total_amount", "DECIMAL(15,2)", True),
        ("tax_amount", "DECIMAL(15,2)", True),
        ("payment_type", "VARCHAR(10)", True),
        ("is_void", "BOOLEAN", True),
        ("remark", "TEXT", False),
    ],
    "sales_items": [
        ("sales_item_id", "INTEGER", False),
        ("sales_id", "INTEGER", True),
        ("line_no", "INTEGER", True),
        ("item_id", "INTEGER", True),
        ("quantity", "INTEGER", True),
        ("unit_price", "DECIMAL(10,2)", True),
        ("discount", "DECIMAL(10,2)", False),
        ("line_amount", "DECIMAL(15,2)", True),
        ("sales_date", "TIMESTAMP", True),
    ],
    "payments": [
        ("payment_id", "INTEGER", False),
        ("sales_id", "INTEGER", True),
        ("paid_at", "TIMESTAMP", True),
        ("method", "VARCHAR(10)", True),
        ("amount", "DECIMAL(15,2)", True),
        ("card_last4", "CHAR(4)", False),
        ("currency", "CHAR(3)", True),
    ],
}
PRIMARY_KEYS = {
    "locations": "location_id",
    "customers": "customer_id",
    "items": "item_id",
    "sales": "id",
    "sales_items": "sales_item_id",
    "payments": "payment_id",
}

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


CENT = Decimal("0.01")


def _dec(value: float | int, scale: int = 2) -> Decimal:
    """A DECIMAL(p, scale) column value read back from SQLite, as an exact Decimal."""
    assert isinstance(value, (int, float)), value
    result = Decimal(repr(value)).quantize(Decimal(1).scaleb(-scale))
    # repr round-trips: the stored float is exactly the decimal at that scale
    assert float(result) == value, value
    return result


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("demo") / "pos.sqlite"
    counts = generate(path, start=START, months=MONTHS, seed=7, scale=SCALE)
    return path, counts


@pytest.fixture()
def conn(generated: tuple[Path, dict[str, int]]):
    connection = sqlite3.connect(generated[0])
    try:
        yield connection
    finally:
        connection.close()


def _dump(path: Path) -> dict[str, list[tuple]]:
    connection = sqlite3.connect(path)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY {PRIMARY_KEYS[table]}").fetchall()
            for table in EXPECTED_COLUMNS
        }
    finally:
        connection.close()


def test_integrity_check(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA writable_schema").fetchone()[0] == 0


def test_tables_have_declared_types(conn: sqlite3.Connection) -> None:
    tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    assert set(tables) == set(EXPECTED_COLUMNS)
    assert tables == TABLES
    for table, expected in EXPECTED_COLUMNS.items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        actual = [(name, decl, bool(notnull)) for _cid, name, decl, notnull, _dflt, _pk in info]
        assert actual == expected, table
        pks = [name for _cid, name, _decl, _nn, _dflt, pk in info if pk]
        assert pks == [PRIMARY_KEYS[table]], table


def test_indexes(conn: sqlite3.Connection) -> None:
    indexed = {
        (table, col)
        for table in ("sales", "sales_items", "payments")
        for (idx_name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
        )
        for (_seq, _cid, col) in conn.execute(f"PRAGMA index_info({idx_name})")
    }
    assert ("sales", "sales_date") in indexed
    assert ("sales_items", "sales_date") in indexed
    assert ("payments", "paid_at") in indexed
    # sku is UNIQUE
    assert conn.execute("SELECT count(*) - count(DISTINCT sku) FROM items").fetchone()[0] == 0


def test_returns_actual_row_counts(generated: tuple[Path, dict[str, int]], conn: sqlite3.Connection) -> None:
    _path, counts = generated
    assert set(counts) == set(EXPECTED_COLUMNS)
    for table, n in counts.items():
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n, table
    assert counts["locations"] == 12
    assert counts["items"] == 800
    assert counts["customers"] == round(5000 * SCALE)
    # ~40,000 * scale per month, 1-4 lines per sale, 1-2 payments per sale
    assert 0.9 * 40_000 * SCALE * MONTHS <= counts["sales"] <= 1.1 * 40_000 * SCALE * MONTHS
    assert counts["sales"] < counts["sales_items"] <= 4 * counts["sales"]
    assert counts["sales"] < counts["payments"] <= 2 * counts["sales"]


def test_value_storage(conn: sqlite3.Connection) -> None:
    for table, columns in EXPECTED_COLUMNS.items():
        for name, decl, _notnull in columns:
            rows = conn.execute(
                f"SELECT {name}, typeof({name}) FROM {table} WHERE {name} IS NOT NULL"
            ).fetchall()
            assert rows, (table, name)
            types = {t for _v, t in rows}
            if decl == "TIMESTAMP":
                assert types == {"text"}, (table, name)
                assert all(TS_RE.match(v) for v, _t in rows), (table, name)
            elif decl == "DATE":
                assert types == {"text"}, (table, name)
                assert all(DATE_RE.match(v) for v, _t in rows), (table, name)
            elif decl == "BOOLEAN":
                assert types == {"integer"}, (table, name)
                assert {v for v, _t in rows} <= {0, 1}, (table, name)
            elif decl.startswith("DECIMAL"):
                scale = int(decl.rstrip(")").split(",")[1])
                assert types <= {"real", "integer"}, (table, name)
                assert "real" in types, (table, name)
                for v, _t in rows:
                    _dec(v, scale)
            elif decl in ("INTEGER", "BIGINT"):
                assert types == {"integer"}, (table, name)
            else:
                assert types == {"text"}, (table, name)
    # card_last4 keeps its leading zeros (TEXT affinity)
    assert all(
        len(v) == 4 and v.isdigit()
        for (v,) in conn.execute("SELECT card_last4 FROM payments WHERE card_last4 IS NOT NULL")
    )


def test_sales_per_month(conn: sqlite3.Connection) -> None:
    per_month = dict(
        conn.execute("SELECT substr(sales_date, 1, 7), count(*) FROM sales GROUP BY 1").fetchall()
    )
    assert set(per_month) == {"2025-01", "2025-02", "2025-03"}
    for month, n in per_month.items():
        assert 0.9 * 40_000 * SCALE <= n <= 1.1 * 40_000 * SCALE, month
    assert (
        conn.execute(
            "SELECT count(*) FROM sales WHERE sales_date < '2025-01-01' OR sales_date >= '2025-04-01'"
        ).fetchone()[0]
        == 0
    )
    # every day has sales, with day-to-day variation
    per_day = [n for _d, n in conn.execute("SELECT business_date, count(*) FROM sales GROUP BY 1 ORDER BY 1")]
    assert len(per_day) == 31 + 28 + 31
    assert min(per_day) > 0 and max(per_day) > 1.2 * min(per_day)
    assert (
        conn.execute(
            "SELECT count(*) FROM sales WHERE business_date <> substr(sales_date, 1, 10)"
        ).fetchone()[0]
        == 0
    )
    # dependent rows stay in the period as well
    assert (
        conn.execute(
            "SELECT count(*) FROM sales_items WHERE sales_date < '2025-01-01' OR sales_date >= '2025-04-01'"
        ).fetchone()[0]
        == 0
    )


def test_sales_date_increases_with_id(conn: sqlite3.Connection) -> None:
    dates = [d for (d,) in conn.execute("SELECT sales_date FROM sales ORDER BY id")]
    assert dates == sorted(dates)
    ids = [i for (i,) in conn.execute("SELECT id FROM sales ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))


def test_line_amounts_sum_to_total(conn: sqlite3.Connection) -> None:
    line_sum: dict[int, Decimal] = defaultdict(Decimal)
    line_counts: dict[int, int] = defaultdict(int)
    sale_dates = dict(conn.execute("SELECT id, sales_date FROM sales"))
    for sales_id, line_no, qty, unit_price, discount, line_amount, sales_date in conn.execute(
        "SELECT sales_id, line_no, quantity, unit_price, discount, line_amount, sales_date "
        "FROM sales_items ORDER BY sales_item_id"
    ):
        expected = qty * _dec(unit_price) - (_dec(discount) if discount is not None else Decimal(0))
        assert _dec(line_amount) == expected
        assert _dec(line_amount) > 0
        assert sales_date == sale_dates[sales_id]
        line_counts[sales_id] += 1
        assert line_no == line_counts[sales_id]
        line_sum[sales_id] += _dec(line_amount)

    sales = conn.execute("SELECT id, total_amount, tax_amount FROM sales").fetchall()
    assert len(line_sum) == len(sales)
    assert set(line_counts.values()) <= {1, 2, 3, 4}
    for sales_id, total, tax in sales:
        assert _dec(total) == line_sum[sales_id], sales_id
        assert _dec(tax) == (_dec(total) * Decimal("0.2")).quantize(CENT, rounding=ROUND_HALF_UP), sales_id


def test_payments_sum_to_total(conn: sqlite3.Connection) -> None:
    paid: dict[int, Decimal] = defaultdict(Decimal)
    n_payments: dict[int, int] = defaultdict(int)
    for sales_id, amount, method, last4 in conn.execute(
        "SELECT sales_id, amount, method, card_last4 FROM payments"
    ):
        paid[sales_id] += _dec(amount)
        n_payments[sales_id] += 1
        assert _dec(amount) > 0
        assert (last4 is None) == (method == "CASH")
    sales = conn.execute("SELECT id, total_amount, payment_type FROM sales").fetchall()
    assert len(paid) == len(sales)
    for sales_id, total, payment_type in sales:
        assert paid[sales_id] == _dec(total), sales_id
        assert n_payments[sales_id] == (2 if payment_type == "SPLIT" else 1), sales_id
    assert sum(1 for n in n_payments.values() if n == 2) > 0
    assert (
        conn.execute(
            "SELECT count(*) FROM payments p JOIN sales s ON s.id = p.sales_id WHERE p.paid_at < s.sales_date"
        ).fetchone()[0]
        == 0
    )


def _null_share(conn: sqlite3.Connection, table: str, column: str) -> float:
    nulls, total = conn.execute(f"SELECT sum({column} IS NULL), count(*) FROM {table}").fetchone()
    return nulls / total


def test_null_shares(conn: sqlite3.Connection) -> None:
    assert 0.20 <= _null_share(conn, "sales", "customer_id") <= 0.40
    assert 0.50 <= _null_share(conn, "sales", "remark") <= 0.70
    assert 0.60 <= _null_share(conn, "sales_items", "discount") <= 0.80
    assert 0.05 <= _null_share(conn, "customers", "email") <= 0.25
    assert 0.20 <= _null_share(conn, "customers", "loyalty_tier") <= 0.40
    assert 0.0 < _null_share(conn, "items", "weight_kg") < 0.25
    assert 0.0 < _null_share(conn, "items", "category") < 0.25
    assert 0.0 < _null_share(conn, "locations", "city") < 0.5


def test_referential_integrity(conn: sqlite3.Connection) -> None:
    orphans = {
        "sales.location_id": "SELECT count(*) FROM sales s LEFT JOIN locations l "
        "ON l.location_id = s.location_id WHERE l.location_id IS NULL",
        "sales.customer_id": "SELECT count(*) FROM sales s LEFT JOIN customers c "
        "ON c.customer_id = s.customer_id WHERE s.customer_id IS NOT NULL AND c.customer_id IS NULL",
        "sales_items.item_id": "SELECT count(*) FROM sales_items si LEFT JOIN items i "
        "ON i.item_id = si.item_id WHERE i.item_id IS NULL",
        "payments.sales_id": "SELECT count(*) FROM payments p LEFT JOIN sales s "
        "ON s.id = p.sales_id WHERE s.id IS NULL",
    }
    for name, sql in orphans.items():
        assert conn.execute(sql).fetchone()[0] == 0, name
    # customers only buy after they were created; shops only sell when active
    assert (
        conn.execute(
            "SELECT count(*) FROM sales s JOIN customers c ON c.customer_id = s.customer_id "
            "WHERE c.created_at > s.sales_date"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM sales s JOIN locations l ON l.location_id = s.location_id "
            "WHERE l.is_active = 0 OR l.opened_on > s.business_date"
        ).fetchone()[0]
        == 0
    )


def test_customers_modified(conn: sqlite3.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM customers WHERE modified_at < created_at").fetchone()[0] == 0
    in_period = conn.execute(
        "SELECT count(*) FROM customers WHERE modified_at >= '2025-01-01' AND modified_at < '2025-04-01'"
    ).fetchone()[0]
    total = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert 0.10 * total <= in_period < total


def test_non_ascii_text(conn: sqlite3.Connection) -> None:
    remarks = [r for (r,) in conn.execute("SELECT remark FROM sales WHERE remark IS NOT NULL")]
    non_ascii = [r for r in remarks if not r.isascii()]
    assert non_ascii
    assert 0.03 <= len(non_ascii) / len(remarks) <= 0.20
    assert any(ord(ch) > 0xFFFF for r in non_ascii for ch in r)  # emoji
    names = [n for (n,) in conn.execute("SELECT name FROM locations")]
    assert any(not n.isascii() for n in names)
    assert "Café Zürich" in names and "東京 Shibuya" in names
    customer_names = [
        f"{first} {last}" for first, last in conn.execute("SELECT first_name, last_name FROM customers")
    ]
    assert any(not n.isascii() for n in customer_names)


def test_deterministic(generated: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    again = tmp_path / "again.sqlite"
    counts = generate(again, start=START, months=MONTHS, seed=7, scale=SCALE)
    assert counts == generated[1]
    assert _dump(again) == _dump(generated[0])

    other = tmp_path / "other.sqlite"
    generate(other, start=START, months=MONTHS, seed=8, scale=SCALE)
    original, different = _dump(generated[0]), _dump(other)
    assert different["locations"] == original["locations"]
    for table in ("customers", "items", "sales", "sales_items", "payments"):
        assert different[table] != original[table], table


def test_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "pos.sqlite"
    path.write_bytes(b"not a database")
    counts = generate(str(path), months=1, scale=0.01)
    assert not (tmp_path / "pos.sqlite.tmp").exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM sales").fetchone()[0] == counts["sales"]


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path / "x.sqlite", months=0)
    with pytest.raises(ValueError):
        generate(tmp_path / "x.sqlite", scale=0)
    assert not (tmp_path / "x.sqlite").exists()


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.sqlite"
    assert (
        main(
            [
                "--out",
                str(out),
                "--start",
                "2024-11-01",
                "--months",
                "2",
                "--scale",
                "0.01",
                "--seed",
                "3",
                "--log-level",
                "WARNING",
            ]
        )
        == 0
    )
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    with sqlite3.connect(out) as connection:
        months = [
            m for (m,) in connection.execute("SELECT DISTINCT substr(sales_date, 1, 7) FROM sales ORDER BY 1")
        ]
        assert months == ["2024-11", "2024-12"]
        assert int(printed["sales"]) == connection.execute("SELECT count(*) FROM sales").fetchone()[0]
