"""PostgreSQL's text output parsed into Arrow values (``postgres_text``), against a real server's
own texts: what the server-side cursor and change capture both read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg2
import pyarrow as pa
import pytest

from tributary.dialects import POSTGRES, postgres_text
from tributary.sql import render

INTERVALS = [
    "1 year 2 mons 3 days 04:05:06.789", "-1 days", "0.000001 seconds", "-0.000001 seconds", "0",
    "1 mon -2 days -00:00:00.000001", "-178000000 years", "178000000 years", "-2147483648 days",
    "2562047 hours 47 minutes 16.854775 seconds", "-2562047 hours -47 minutes -16.854775 seconds",
    "-1 year -1 mon +1 day -00:00:01", "13 mons", "36 hours", "1.5 seconds",
]  # fmt: skip


@pytest.fixture(scope="module")
def cursor(pg_cluster: Any) -> Any:
    connection = psycopg2.connect(pg_cluster.dsn)
    cur = connection.cursor()
    cur.execute(render(POSTGRES, "stream_settings"))  # the cursor path's own session settings
    yield cur
    connection.close()


def test_every_session_that_prints_values_sets_what_the_parser_reads() -> None:
    for template in ("stream_settings", "cdc_session", "extract_session"):
        text = render(POSTGRES, template, slot="s")
        for name, value in postgres_text.SESSION_SETTINGS.items():
            assert f"set_config('{name}', '{value}'" in text, template


@pytest.mark.parametrize("literal", INTERVALS)
def test_intervals_parse_and_print_as_postgresql_prints_them(cursor, literal: str) -> None:
    cursor.execute(
        "SELECT v::text, extract(year FROM v) * 12 + extract(month FROM v), extract(day FROM v), "
        "(extract(hour FROM v) * 3600 + extract(minute FROM v) * 60) * 1000000 "
        "+ extract(microseconds FROM v) "
        "FROM (SELECT %(v)s::interval AS v) AS given",
        {"v": literal},
    )
    text, months, days, micros = cursor.fetchone()
    value = postgres_text.parse_interval(text)
    assert value == pa.MonthDayNano([int(months), int(days), int(micros) * 1000])
    assert postgres_text.format_interval(value) == text  # the extracts' text is PostgreSQL's own


@pytest.mark.parametrize(
    ("literal", "elements"),
    [
        ("'{}'::text[]", []),
        ("ARRAY[NULL, 'NULL', '', ' a ', 'b,c', 'd\"e', 'f\\g', '{h}', 'é😀']::text[]",
         [None, "NULL", "", " a ", "b,c", 'd"e', "f\\g", "{h}", "é😀"]),
        ("'[-1:0]={7,8}'::int[]", ["7", "8"]),
        ("ARRAY['2025-01-01 00:00:00+05:45']::timestamptz[]", ["2024-12-31 18:15:00+00"]),
    ],
)  # fmt: skip
def test_one_dimensional_arrays_split_into_their_elements(cursor, literal: str, elements: list[Any]) -> None:
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute(f"SELECT {literal}::text")
    assert postgres_text.parse_array(cursor.fetchone()[0]) == elements


def test_money_reads_in_the_c_locale(cursor) -> None:
    cursor.execute("SELECT '-92233720368547758.08'::money::text, '1234.5'::money::text")
    texts = cursor.fetchone()
    assert texts == ("-$92,233,720,368,547,758.08", "$1,234.50")
    assert [postgres_text.parse_money(t) for t in texts] == [
        Decimal("-92233720368547758.08"),
        Decimal("1234.50"),
    ]


def test_texts_that_are_not_values_of_the_type_are_refused() -> None:
    for bad in ("P", "PT", "1 day", "P1.5D"):
        with pytest.raises(ValueError, match="not an ISO 8601 interval"):
            postgres_text.parse_interval(bad)
    with pytest.raises(ValueError, match="multi-dimensional"):
        postgres_text.parse_array("{{1,2},{3,4}}")
    with pytest.raises(ValueError, match="not an array literal"):
        postgres_text.parse_array("1,2")
