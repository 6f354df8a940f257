"""The bronze shape of change rows, shared by every way Tributary captures changes.

A change row is the table's columns (exact types, through the table's type map) plus:

- ``_op``: ``insert``, ``update``, ``delete`` or ``truncate``. A delete carries the key (every
  column under PostgreSQL's ``REPLICA IDENTITY FULL``), the other columns NULL; a truncate has
  every table column NULL and removes every row whose position is before it.
- the position, sortable: ``_lsn`` (PostgreSQL: the commit's log position as an integer; SQL
  Server CDC: ``__$start_lsn`` as 20 hex digits), or ``_change_version`` (SQL Server change
  tracking: ``SYS_CHANGE_VERSION``); with ``_seq``, the change's order inside its transaction
  (PostgreSQL: from 0; SQL Server CDC: ``__$seqval`` as hex), so that two changes of one key in
  one transaction apply in order.
- ``_commit_time``: when the change was committed (UTC; NULL where the source does not say).
- the audit columns (``_batch_id``, ``_ingestion_time``, ``_source_system``) as every bronze row.

A tombstone of ``deletes: detect_by_keys`` is a change row with ``_op = 'delete'``, the key
columns, every other column NULL, and ``_commit_time`` the time the deletion was detected (the
run's clock). Tombstones of a table live in ``deletes=<batch_id>`` partitions beside its data
partitions, committed like any partition (``_SUCCESS`` last): a data row has no ``_op`` (NULL
when bronze is read with ``union_by_name``), which reads as "present".

Silver turns these into current state: per key, the row with the greatest position (data rows:
the newest ``_ingestion_time``, then ``_batch_id``); a key whose latest row is a delete is gone.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

# the partition key of a table's tombstone partitions (deletes=<batch_id>), owned by the core
from tributary.batches import DELETES_PARTITION as DELETES_PARTITION

OP = "_op"
LSN = "_lsn"
CHANGE_VERSION = "_change_version"
SEQ = "_seq"
COMMIT_TIME = "_commit_time"


class Op(StrEnum):
    insert = "insert"
    update = "update"
    delete = "delete"
    truncate = "truncate"


OP_FIELD = pa.field(OP, pa.string(), nullable=False)
COMMIT_TIME_FIELD = pa.field(COMMIT_TIME, pa.timestamp("us", tz="UTC"))
POSTGRES_POSITION = (pa.field(LSN, pa.int64(), nullable=False), pa.field(SEQ, pa.int64(), nullable=False))
CHANGE_TRACKING_POSITION = (pa.field(CHANGE_VERSION, pa.int64(), nullable=False),)
MSSQL_CDC_POSITION = (pa.field(LSN, pa.string(), nullable=False), pa.field(SEQ, pa.string(), nullable=False))


def change_schema(table_schema: pa.Schema, position: tuple[pa.Field, ...]) -> pa.Schema:
    """The schema of a table's change rows (audit columns aside): its columns, every one
    nullable (a delete carries only the key), then ``_op``, the position and ``_commit_time``."""
    columns = [field.with_nullable(True) for field in table_schema]
    return pa.schema([*columns, OP_FIELD, *position, COMMIT_TIME_FIELD], metadata=table_schema.metadata)


def tombstone_schema(table_schema: pa.Schema, primary_key: list[str]) -> pa.Schema:
    """The schema of a table's tombstones: the key columns as typed in the table, ``_op`` and
    ``_commit_time`` (audit columns aside)."""
    keys = [table_schema.field(name) for name in primary_key]
    return pa.schema([*keys, OP_FIELD, COMMIT_TIME_FIELD])
