"""Schema drift: the source's columns against the schema of the table's last committed partition.

A per-table policy decides what a run writes when they differ:

- ``evolve`` (default): new columns appear; dropped columns are still written, as nulls of their
  last type, so every partition keeps them; a widened type is written widened (int32 -> int64,
  decimal(10,2) -> decimal(12,2), timestamp[ms] -> timestamp[us]); a narrowed one keeps the lake's
  wider type. An incompatible change (int -> text; text -> uuid, json, list, interval, enum or
  money decimal, as PostgreSQL's columns became native in issue #17) is written as the new type
  with a warning; committed partitions keep their type until their windows are re-run.
- ``freeze``: any difference fails the extract, showing it.
- ``discard_columns``: new columns are left out; dropped ones are written as nulls; types as in
  ``evolve``.

Whatever the policy, DuckDB reads all partitions of a table together with
``read_parquet(..., union_by_name = true)``.

Nullability is not drift. A column is written non-nullable while the source declares it NOT NULL
and nullable otherwise, as the source says at each run: when a NOT NULL column later becomes
nullable (or the reverse), new partitions and re-runs of old windows are written as the source
is now, with no change listed and no ``freeze`` failure; committed partitions keep the schema they
were written with. Readers that unify partitions (DuckDB's ``union_by_name``,
``pa.unify_schemas``) take a field as nullable when any partition's is. A dropped column, written
as nulls, is always nullable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from tributary.config import SchemaDrift
from tributary.dialects.columns import Column
from tributary.errors import TributaryError

log = logging.getLogger(__name__)


class SchemaDriftError(TributaryError):
    """The source's columns changed and the table's policy is ``freeze``."""

    permanent = True


@dataclass(frozen=True)
class DriftPlan:
    """What to read from the source and what to write."""

    read: list[Column]  # the source columns to select, in order
    schema: pa.Schema  # the schema written (without audit columns)
    changes: list[str] = field(default_factory=list)

    @property
    def is_identity(self) -> bool:
        """Whether the source's columns are written as they are read (no drift to conform)."""
        return [(f.name, f.type) for f in self.schema] == [(c.name, c.arrow_type) for c in self.read]

    def conform(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Source batches (of ``read``) as batches of ``schema``: dropped columns as nulls,
        types cast to the written ones."""
        read_names = {c.name for c in self.read}
        for batch in batches:
            arrays = []
            for target in self.schema:
                if target.name in read_names:
                    array = batch.column(target.name)
                    arrays.append(array if array.type == target.type else array.cast(target.type))
                else:
                    arrays.append(pa.nulls(batch.num_rows, target.type))
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _widest(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    try:
        unified = pa.unify_schemas(
            [pa.schema([("c", old)]), pa.schema([("c", new)])], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return unified.field("c").type


def plan(columns: list[Column], previous: pa.Schema | None, policy: SchemaDrift, *, table: str) -> DriftPlan:
    """The read and write plan for ``columns`` given the last committed schema ``previous``."""
    current = pa.schema([c.field() for c in columns])
    if previous is None:
        return DriftPlan(columns, current)
    before = {f.name: f for f in previous}
    now = {f.name: f for f in current}
    added = [n for n in now if n not in before]
    dropped = [n for n in before if n not in now]
    changed = [n for n in now if n in before and now[n].type != before[n].type]
    changes = [f"+ {n} {now[n].type}" for n in added]
    changes += [f"- {n} {before[n].type}" for n in dropped]
    changes += [f"~ {n} {before[n].type} -> {now[n].type}" for n in changed]
    if not changes:
        return DriftPlan(columns, current)
    if policy is SchemaDrift.freeze:
        raise SchemaDriftError(
            f"table {table}: the source's columns changed since the last committed partition and "
            f"the table's schema_drift is 'freeze':\n  " + "\n  ".join(changes) + "\n"
            "Set schema_drift: evolve (or discard_columns) to accept it, or restore the columns."
        )
    read = [c for c in columns if not (policy is SchemaDrift.discard_columns and c.name in added)]
    fields = []
    for column in read:
        target = column.field()
        if column.name in before and target.type != before[column.name].type:
            widest = _widest(before[column.name].type, target.type)
            if widest is None:
                log.warning(
                    "table %s: column %s changed from %s to %s, which do not widen into one "
                    "another; writing %s (committed partitions keep %s: re-run their windows, a "
                    "backfill, for readers to see one type)",
                    table,
                    column.name,
                    before[column.name].type,
                    target.type,
                    target.type,
                    before[column.name].type,
                )
            else:
                target = target.with_type(widest)
        fields.append(target)
    fields += [before[n].with_nullable(True) for n in dropped]
    if policy is SchemaDrift.discard_columns and added:
        changes.append(f"discarded (schema_drift: discard_columns): {', '.join(added)}")
    log.warning("table %s: schema drift (policy %s):\n  %s", table, policy.value, "\n  ".join(changes))
    return DriftPlan(read, pa.schema(fields), changes)
