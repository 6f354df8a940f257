"""QA checks: declared per table in the pipeline config, run by the verify step on the Parquet
files the run wrote, before ``_SUCCESS``.

The fixed set (``CheckConfig``): ``not_null``, ``unique`` (the combination of the columns; rows
with a NULL in a key column are not compared, as in dbt), ``accepted_values``, ``row_count``
(min and/or max) and ``freshness`` (the newest value of a timestamp or date column is at most
``max_age`` before the end of the run's window). Each check reads only the columns it needs,
file by file through the lake root (local, s3://, gs://, with the lake's retries). Every result
goes into the manifest; a failed check fails verify, so the partition is never committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.config import CheckConfig, parse_duration
from tributary.errors import QualityError
from tributary.lake import Partition
from tributary.manifest import CheckResult, Manifest

log = logging.getLogger(__name__)

EXAMPLES = 3  # offending values shown per failed check


def _read_columns(partition: Partition, manifest: Manifest, columns: Sequence[str]) -> pa.Table:
    """The columns of every file of the manifest, as one table (only those columns are read)."""
    names = list(dict.fromkeys(columns))
    tables = [
        partition.read_file(f.name, lambda fh: pq.read_table(fh, columns=names)) for f in manifest.files
    ]
    tables = [t for t in tables if t.num_rows] or tables[:1]
    data = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return pa.table({name: _comparable(data.column(name)) for name in data.column_names})


def _comparable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as the checks compare it (and as config values name them): an enum's dictionary
    as its strings, a UUID as its canonical text, JSON as its text."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return column.cast(kind.value_type)
    if isinstance(kind, pa.UuidType):
        return pa.chunked_array(
            [pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())]
        )
    if isinstance(kind, pa.JsonType):
        return pa.chunked_array([c.storage for c in column.chunks], kind.storage_type)
    return column


def _show(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _not_null(data: pa.Table, columns: list[str]) -> tuple[bool, str]:
    nulls = {c: data.column(c).null_count for c in columns}
    bad = {c: n for c, n in nulls.items() if n}
    if not bad:
        return True, f"no NULL in {data.num_rows} rows"
    return False, "; ".join(f"{c}: {n} NULL(s) in {data.num_rows} rows" for c, n in bad.items())


def _unique(data: pa.Table, columns: list[str]) -> tuple[bool, str]:
    keys = data.select(columns)
    mask = None
    for name in columns:
        valid = pc.is_valid(keys.column(name))
        mask = valid if mask is None else pc.and_(mask, valid)
    if mask is not None:
        keys = keys.filter(mask)
    counts = keys.group_by(columns).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1)).sort_by([("count_all", "descending")])
    if repeated.num_rows == 0:
        return True, f"{keys.num_rows} keys, all distinct"
    extra = pc.sum(repeated.column("count_all")).as_py() - repeated.num_rows
    shown = []
    for row in repeated.slice(0, EXAMPLES).to_pylist():
        key = ", ".join(f"{c}={_show(row[c])}" for c in columns)
        shown.append(f"{key} ({row['count_all']} rows)")
    return False, (
        f"{repeated.num_rows} key(s) appear more than once ({extra} extra row(s)), e.g. " + "; ".join(shown)
    )


def _accepted_values(data: pa.Table, column: str, values: list[Any]) -> tuple[bool, str]:
    accepted = {str(v) if not isinstance(v, bool) else str(v).lower() for v in values}

    def key(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    column_data = data.column(column)
    distinct = [v for v in pc.unique(column_data).to_pylist() if v is not None]
    bad = [v for v in distinct if key(v) not in accepted]
    if not bad:
        return True, f"{len(distinct)} distinct value(s), all accepted"
    found = pc.value_counts(column_data.filter(pc.is_in(column_data, pa.array(bad, column_data.type))))
    counted = sorted(((c["values"], c["counts"]) for c in found.to_pylist()), key=lambda vc: -vc[1])
    rows = sum(n for _, n in counted)
    shown = ", ".join(f"{_show(v)} ({n})" for v, n in counted[:EXAMPLES])
    return False, f"{rows} row(s) with values not accepted: {shown}" + (
        ", ..." if len(counted) > EXAMPLES else ""
    )


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)  # a date: its first instant


def _freshness(data: pa.Table, column: str, max_age: str | int, reference: dt.datetime) -> tuple[bool, str]:
    values = data.column(column)
    if not (pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)):
        return False, f"{column} is {values.type}; freshness needs a timestamp or date column"
    newest = pc.max(values).as_py()
    allowed = parse_duration(max_age)
    if newest is None:
        return False, f"no value of {column} in {data.num_rows} rows; allowed: at most {max_age} old"
    age = _as_utc(reference) - _as_utc(newest)
    text = (
        f"newest {column} is {_as_utc(newest).isoformat()}, {age} before the window's end "
        f"{_as_utc(reference).isoformat()}; allowed: {max_age}"
    )
    return age <= allowed, text


def run_checks(
    partition: Partition, manifest: Manifest, checks: Sequence[CheckConfig], *, reference_time: dt.datetime
) -> list[CheckResult]:
    """Each check's result on the partition's files (``reference_time``: the window's end)."""
    if not checks:
        return []
    present = {f.name for f in manifest.schema_}
    wanted = [c for check in checks for c in check.columns if c in present]
    data = _read_columns(partition, manifest, wanted) if wanted else pa.table({})
    results = []
    for check in checks:
        missing = [c for c in check.columns if c not in present]
        if missing:
            passed, detail = (
                False,
                (
                    f"column(s) {', '.join(missing)} not in the partition "
                    f"(it has: {', '.join(sorted(present))})"
                ),
            )
        elif check.not_null is not None:
            passed, detail = _not_null(data, check.not_null)
        elif check.unique is not None:
            passed, detail = _unique(data, check.unique)
        elif check.accepted_values is not None:
            passed, detail = _accepted_values(
                data, check.accepted_values.column, check.accepted_values.values
            )
        elif check.row_count is not None:
            low, high = check.row_count.min, check.row_count.max
            passed = (low is None or manifest.rows >= low) and (high is None or manifest.rows <= high)
            bounds = " and ".join(
                part
                for part in (
                    f"at least {low}" if low is not None else "",
                    f"at most {high}" if high is not None else "",
                )
                if part
            )
            detail = f"{manifest.rows} rows; allowed: {bounds}"
        else:
            assert check.freshness is not None
            passed, detail = _freshness(data, check.freshness.column, check.freshness.max_age, reference_time)
        results.append(CheckResult(check=check.describe(), passed=passed, detail=detail))
    return results


def apply_checks(
    partition: Partition, manifest: Manifest, checks: Sequence[CheckConfig], *, reference_time: dt.datetime
) -> Manifest:
    """The manifest with the checks' results; if one failed, that manifest is written (so the
    results can be read in the lake) and :class:`QualityError` names every failed check."""
    if not checks:
        return manifest
    results = run_checks(partition, manifest, checks, reference_time=reference_time)
    label = f"{manifest.source}.{manifest.table} {manifest.partition}"
    for result in results:
        if result.passed:
            log.info("%s: check %s passed: %s", label, result.check, result.detail)
        else:
            log.error("%s: check %s FAILED: %s", label, result.check, result.detail)
    checked = manifest.model_copy(update={"checks": results})
    failed = [r for r in results if not r.passed]
    if failed:
        partition.write_manifest(checked)
        raise QualityError(
            f"{label}: {len(failed)} of {len(results)} check(s) failed, the partition is not committed:\n"
            + "\n".join(f"  {r.check}: {r.detail}" for r in failed)
        )
    return checked
