"""Change capture from PostgreSQL's write-ahead log: a logical replication slot with the built-in
``pgoutput`` plugin and a publication, one of each per source (not per table).

A run fixes its bounds once (:func:`plan`): from the slot's ``confirmed_flush_lsn`` up to
``pg_current_wal_flush_lsn()`` (not ``pg_current_wal_lsn()``: decoding reads flushed WAL only,
and an upper bound past it would let the slot advance past a commit the run did not read,
see ``cdc_slot.sql``). Each table reads its changes in those bounds with
``pg_logical_slot_peek_binary_changes`` (:func:`change_batches`) -- peek, never get: the slot
does not move. Only after every table's batch of that read is committed does
:func:`advance` move the slot to the upper bound; a crash, a kill or a failed verify before that
leaves it where it was, and the next run reads the same changes again (harmless: silver applies
changes by ``(key, _lsn, _seq)``).

Nothing here creates or drops a slot or a publication: :func:`check_setup` fails with the SQL to
run (:func:`setup_sql` renders the whole idempotent setup). Unchanged TOASTed values (a large
text or bytea column an update did not touch) are not in the log under ``REPLICA IDENTITY
DEFAULT``; under ``FULL`` they are taken from the old row; otherwise the read fails (see
:class:`UnchangedToastError`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tributary.changes import pgoutput
from tributary.changes.shape import POSTGRES_POSITION, Op, change_schema
from tributary.dialects import POSTGRES, postgres_text
from tributary.dialects.columns import Column, schema_of
from tributary.errors import DataError, SourceError
from tributary.sql import render

log = logging.getLogger(__name__)

MB = 1 << 20


class ChangeCaptureSetupError(SourceError):
    """Change capture is not set up in the source (slot, publication, wal_level); the message
    holds the SQL to run."""

    permanent = True


class SlotInvalidatedError(ChangeCaptureSetupError):
    """The slot has lost WAL it needed: changes are gone, the tables must be snapshot again."""


class SlotMovedError(SourceError):
    """The slot moved between the run's plan and its read: another run advanced it."""

    permanent = True


class UnchangedToastError(DataError):
    """An update left a TOASTed value out of the log, and no old row carries it."""


@dataclass(frozen=True)
class CdcPlan:
    """The bounds of one run's read: changes committed after ``from_lsn`` (the slot's confirmed
    position) up to ``upto_lsn`` (the server's position when the run planned)."""

    slot: str
    publication: str
    from_lsn: str
    upto_lsn: str
    retained_bytes: int = 0

    def as_xcom(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "publication": self.publication,
            "from_lsn": self.from_lsn,
            "upto_lsn": self.upto_lsn,
            "retained_bytes": self.retained_bytes,
        }

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> CdcPlan:
        return cls(**value)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def setup_sql(
    slot: str,
    publication: str,
    tables: list[tuple[str, str]],
    without_key: list[tuple[str, str]] | None = None,
) -> str:
    """The idempotent setup of a source's change capture, for a user to run (psql): the
    publication with ``tables`` (schema, name), ``REPLICA IDENTITY FULL`` for ``without_key``,
    then the slot."""
    return render(
        POSTGRES,
        "cdc_setup",
        slot=slot,
        publication=publication,
        tables=tables,
        full_identity=list(without_key or []),
        literal=_literal,
    )


def _one(connection: Any, statement: str, params: dict[str, Any], **context: Any) -> tuple[Any, ...] | None:
    cursor = connection.cursor()
    try:
        cursor.execute(render(POSTGRES, statement, **context), params)
        row = cursor.fetchone()
        return tuple(row) if row is not None else None
    finally:
        cursor.close()
        if not getattr(connection, "autocommit", False):
            connection.rollback()  # no session left idle in transaction


def _check_slot(connection: Any, slot: str, setup: str) -> tuple[Any, ...]:
    row = _one(connection, "cdc_slot", {"slot": slot})
    if row is None:
        raise ChangeCaptureSetupError(
            f"replication slot {slot!r} does not exist; Tributary never creates one on its own. "
            f"Create it (after the publication) with:\n  SELECT pg_create_logical_replication_slot("
            f"{_literal(slot)}, 'pgoutput');\nThe whole idempotent setup:\n{setup}"
        )
    plugin, database, current, wal_status, conflicting = row[:5]
    if plugin != "pgoutput" or database != current:
        raise ChangeCaptureSetupError(
            f"replication slot {slot!r} is a slot of plugin {plugin!r} on database {database!r}; "
            f"change capture needs a pgoutput slot on {current!r}. Name another slot in the source's "
            f"`cdc: slot:`, or drop this one if nothing uses it and create it with:\n  SELECT "
            f"pg_create_logical_replication_slot({_literal(slot)}, 'pgoutput');"
        )
    if wal_status == "lost" or conflicting == "true":
        raise SlotInvalidatedError(
            f"replication slot {slot!r} has been invalidated (wal_status {wal_status!r}, conflicting "
            f"{conflicting}): the server removed WAL it still needed (max_slot_wal_keep_size), so "
            "changes are lost. Re-snapshot: drop and re-create the slot\n  SELECT "
            f"pg_drop_replication_slot({_literal(slot)});\n  SELECT pg_create_logical_replication_slot("
            f"{_literal(slot)}, 'pgoutput');\nthen trigger the DAG with full_refresh: true (each cdc "
            "table takes a new snapshot)"
        )
    return row


def check_setup(
    connection: Any,
    *,
    slot: str,
    publication: str,
    tables: list[tuple[str, str]],
    keys: Mapping[tuple[str, str], list[str]] | None = None,
) -> tuple[Any, ...]:
    """Fail, with the SQL to run, unless ``wal_level`` is logical, the slot exists (pgoutput, this
    database, not invalidated) and the publication publishes each table (schema, name) with a
    replica identity that lets a delete name its row -- by the ``keys`` the config gives a table
    (its ``primary_key``), when given. Returns the slot's row (``cdc_slot.sql``)."""
    level = _one(connection, "cdc_wal_level", {})
    setup = setup_sql(slot, publication, tables)
    if level is None or level[0] != "logical":
        raise ChangeCaptureSetupError(
            f"the source's wal_level is {level[0] if level else None!r}; change capture needs "
            "wal_level = logical. Run\n  ALTER SYSTEM SET wal_level = logical;\nand restart the "
            "server (managed services: set the parameter, e.g. rds.logical_replication = 1)"
        )
    row = _check_slot(connection, slot, setup)
    for schema, table in tables:
        _check_table(connection, publication, schema, table, (keys or {}).get((schema, table), []))
    return row


def _check_table(connection: Any, publication: str, schema: str, table: str, key: list[str]) -> None:
    name = f"{POSTGRES.quote(schema)}.{POSTGRES.quote(table)}"
    found = _one(
        connection, "cdc_publication", {"publication": publication, "schema": schema, "table": table}
    )
    exists, published = found or (False, False)
    if not exists:
        raise ChangeCaptureSetupError(
            f"publication {publication!r} does not exist; create it with:\n  CREATE PUBLICATION "
            f"{POSTGRES.quote(publication)} FOR TABLE {name};"
        )
    if not published:
        raise ChangeCaptureSetupError(
            f"publication {publication!r} does not publish {name}; add it with:\n  ALTER PUBLICATION "
            f"{POSTGRES.quote(publication)} ADD TABLE {name};"
        )
    identity = _one(connection, "cdc_identity", {"schema": schema, "table": table})
    if identity is None or identity[0] == "f":
        return
    kind, has_primary_key, carried = identity
    if kind == "n" or (kind == "d" and not has_primary_key):
        raise ChangeCaptureSetupError(
            f"{name} has no primary key and no replica identity, so its updates and deletes cannot "
            f"name their row (the source refuses them once published); run\n  ALTER TABLE {name} "
            "REPLICA IDENTITY FULL;"
        )
    missing = sorted(set(key) - set(carried or []))
    if missing:
        raise ChangeCaptureSetupError(
            f"the primary_key of {name} in the pipeline config is {key}, but a delete in the log "
            f"carries only {sorted(carried or [])} (its replica identity), so silver could not tell "
            f"which row a delete removes; set primary_key to the table's key, or run\n  ALTER TABLE "
            f"{name} REPLICA IDENTITY FULL;"
        )


def plan(
    connection: Any,
    *,
    slot: str,
    publication: str,
    tables: list[tuple[str, str]],
    keys: Mapping[tuple[str, str], list[str]] | None = None,
    warn_retained_wal_mb: int = 1024,
) -> CdcPlan:
    """Check the setup and fix the run's bounds: the slot's confirmed position and the server's
    flushed one. Warns when the slot holds back more WAL than ``warn_retained_wal_mb``."""
    row = check_setup(connection, slot=slot, publication=publication, tables=tables, keys=keys)
    confirmed, retained, current = row[5], int(row[6] or 0), row[7]
    if retained > warn_retained_wal_mb * MB:
        log.warning(
            "replication slot %r holds back %.0f MB of WAL (warn_retained_wal_mb %d): run the DAG "
            "more often, or check that its runs succeed; past max_slot_wal_keep_size the server "
            "invalidates the slot and the tables must be snapshot again",
            slot,
            retained / MB,
            warn_retained_wal_mb,
        )
    log.info(
        "slot %r: changes after %s up to %s (%d bytes of WAL held back)", slot, confirmed, current, retained
    )
    return CdcPlan(slot, publication, confirmed, current, retained)


def confirmed_position(connection: Any, slot: str) -> str:
    """The slot's ``confirmed_flush_lsn`` now (fails with the setup SQL if the slot is gone)."""
    row = _check_slot(connection, slot, setup_sql(slot, "<publication>", []))
    return str(row[5])


@contextlib.contextmanager
def _transaction(connection: Any) -> Iterator[None]:
    """One transaction, whatever the connection's autocommit: the session settings, the slot's
    advisory lock and a server-side cursor live as long as it does; it ends rolled back unless
    the body committed."""
    autocommit = bool(getattr(connection, "autocommit", False))
    if autocommit:
        connection.autocommit = False
    try:
        yield
    finally:
        connection.rollback()
        if autocommit:
            connection.autocommit = True


def advance(connection: Any, cdc: CdcPlan) -> None:
    """Move the slot to the run's upper bound: the server may recycle the WAL before it. Refuses
    when the slot is no longer where the run planned from (another run moved it)."""
    now = confirmed_position(connection, cdc.slot)
    if pgoutput.parse_lsn(now) >= pgoutput.parse_lsn(cdc.upto_lsn):
        log.info("slot %r is at %s already, not before %s: nothing to advance", cdc.slot, now, cdc.upto_lsn)
        return
    with _transaction(connection):
        cursor = connection.cursor()
        try:
            cursor.execute(render(POSTGRES, "cdc_session"), {"slot": cdc.slot})
            cursor.execute(render(POSTGRES, "cdc_advance"), {"slot": cdc.slot, "lsn": cdc.upto_lsn})
            cursor.fetchall()
        finally:
            cursor.close()
        connection.commit()
    log.info("slot %r advanced from %s to %s", cdc.slot, now, cdc.upto_lsn)


# -- reading a table's changes ------------------------------------------------------------------


def _cast(values: list[Any], column: Column, label: str) -> pa.Array:
    """Texts pgoutput printed (session settings of ``cdc_session.sql``) as the column's type:
    the parser of the snapshot's server-side cursor (``postgres_text``)."""
    kind = column.arrow_type
    try:
        return postgres_text.to_array(values, kind, column.source)
    except (pa.ArrowInvalid, ValueError, ArithmeticError) as exc:
        raise DataError(
            f"{label}: column {column.name!r} holds a value the log prints as text that does not "
            f"convert to {kind} ({exc}); values such as infinity or NaN cannot be written as "
            "this type: cast the column in the source"
        ) from exc


@dataclass
class _Rows:
    """Change rows collected for one record batch."""

    columns: list[Column]
    values: list[list[Any]]
    ops: list[str]
    lsns: list[int]
    seqs: list[int]
    times: list[dt.datetime | None]

    @classmethod
    def empty(cls, columns: list[Column]) -> _Rows:
        return cls(columns, [[] for _ in columns], [], [], [], [])

    def add(self, row: list[Any], op: str, lsn: int, seq: int, time: dt.datetime | None) -> None:
        for values, value in zip(self.values, row, strict=True):
            values.append(value)
        self.ops.append(op)
        self.lsns.append(lsn)
        self.seqs.append(seq)
        self.times.append(time)

    def batch(self, schema: pa.Schema, label: str) -> pa.RecordBatch:
        arrays = [_cast(v, c, label) for v, c in zip(self.values, self.columns, strict=True)]
        arrays += [
            pa.array(self.ops, pa.string()),
            pa.array(self.lsns, pa.int64()),
            pa.array(self.seqs, pa.int64()),
            pa.array(self.times, pa.timestamp("us", tz="UTC")),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _Decoder:
    """Turns a stream of pgoutput messages into change rows of one table."""

    def __init__(self, schema: str, table: str, columns: list[Column], label: str) -> None:
        self.schema, self.table, self.columns, self.label = schema, table, columns, label
        self.relations: dict[int, pgoutput.Relation] = {}
        self.lsn, self.seq, self.time = 0, 0, dt.datetime.min.replace(tzinfo=dt.UTC)

    def skips(self, data: Any) -> bool:
        """Whether a raw message is a row change of another table: the slot's other tables need
        no decoding (the relation id follows the message's kind byte)."""
        return (
            bytes(data[:1]) in (b"I", b"U", b"D") and int.from_bytes(data[1:5], "big") not in self.relations
        )

    def rows(self, message: pgoutput.Message) -> Iterator[tuple[list[Any], str]]:
        if isinstance(message, pgoutput.Begin):
            self.lsn, self.seq, self.time = message.final_lsn, 0, message.commit_time
        elif isinstance(message, pgoutput.Relation):
            if (message.schema, message.name) == (self.schema, self.table):
                self.relations[message.relid] = message
            else:
                self.relations.pop(message.relid, None)
        elif isinstance(message, pgoutput.Change) and message.relid in self.relations:
            yield self._row(self.relations[message.relid], message), message.op
        elif isinstance(message, pgoutput.Truncate) and any(r in self.relations for r in message.relids):
            yield [None] * len(self.columns), Op.truncate.value

    def _row(self, relation: pgoutput.Relation, change: pgoutput.Change) -> list[Any]:
        new = change.new if change.new is not None else change.old
        assert new is not None
        by_name = dict(zip(relation.columns, new, strict=True))
        old = dict(zip(relation.columns, change.old, strict=True)) if change.old is not None else {}
        row = []
        for column in self.columns:
            value = by_name.get(column.name)
            if value is pgoutput.UNCHANGED:
                value = old.get(column.name, pgoutput.UNCHANGED)
            if value is pgoutput.UNCHANGED:
                raise UnchangedToastError(
                    f"{self.label}: an update at {pgoutput.format_lsn(self.lsn)} left the large "
                    f"(TOASTed) value of column {column.name!r} out of the log, as PostgreSQL does "
                    "when the update does not change it and the table's replica identity is not "
                    f"FULL. Run\n  ALTER TABLE {POSTGRES.quote(self.schema)}.{POSTGRES.quote(self.table)} "
                    "REPLICA IDENTITY FULL;\nthen drop and re-create the slot and trigger the DAG with "
                    "full_refresh: true (a new snapshot of each cdc table)"
                )
            row.append(value)
        return row


def change_batches(
    connection: Any,
    cdc: CdcPlan,
    *,
    schema: str,
    table: str,
    columns: list[Column],
    batch_size: int = 100_000,
    label: str = "",
) -> Iterator[pa.RecordBatch]:
    """The table's changes in the run's bounds as record batches of ``change_schema``, streamed
    (a server-side cursor over the slot's peek). Fails when the slot is no longer at the run's
    ``from_lsn``: another run moved it, and what this run would write is not what it planned."""
    label = label or f"{schema}.{table}"
    out_schema = change_schema(schema_of(columns), POSTGRES_POSITION)
    decoder = _Decoder(schema, table, columns, label)
    rows = _Rows.empty(columns)
    with _transaction(connection):
        yield from _peek(connection, cdc, decoder, rows, out_schema, batch_size)


def _peek(
    connection: Any, cdc: CdcPlan, decoder: _Decoder, rows: _Rows, out_schema: pa.Schema, batch_size: int
) -> Iterator[pa.RecordBatch]:
    label, columns = decoder.label, decoder.columns
    cursor = connection.cursor()
    try:
        cursor.execute(render(POSTGRES, "cdc_session"), {"slot": cdc.slot})
        cursor.execute(render(POSTGRES, "cdc_slot"), {"slot": cdc.slot})
        now = cursor.fetchone()
        if now is None or now[5] != cdc.from_lsn:
            raise SlotMovedError(
                f"{label}: slot {cdc.slot!r} is at {now[5] if now else 'nothing'}, not at {cdc.from_lsn} "
                "where this run planned from: another run moved it. Nothing is lost; run the DAG again"
            )
        stream = connection.cursor(name="tributary_cdc")
        stream.itersize = batch_size
        params = {"slot": cdc.slot, "upto": cdc.upto_lsn, "publication": POSTGRES.quote(cdc.publication)}
        stream.execute(render(POSTGRES, "cdc_peek"), params)
        while messages := stream.fetchmany(batch_size):
            for (data,) in messages:
                if decoder.skips(data):
                    continue
                for row, op in decoder.rows(pgoutput.decode(data)):
                    rows.add(row, op, decoder.lsn, decoder.seq, decoder.time)
                    decoder.seq += 1
            if len(rows.ops) >= batch_size:
                yield rows.batch(out_schema, label)
                rows = _Rows.empty(columns)
        stream.close()
        if rows.ops:
            yield rows.batch(out_schema, label)
    finally:
        cursor.close()
