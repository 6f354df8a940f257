"""A decoder of PostgreSQL's ``pgoutput`` logical replication messages, protocol version 1.

The messages come from ``pg_logical_slot_peek_binary_changes(..., 'proto_version', '1',
'publication_names', ...)``: one ``bytea`` per message. Values arrive as the text each type's
output function prints (the session's ``TimeZone``, ``DateStyle``, ``bytea_output`` apply), so
``values.py`` turns them into Arrow types. Message layout: PostgreSQL's documentation, "Logical
Replication Message Formats".

A tuple column is ``n`` (NULL), ``t`` (text) or ``u``: an unchanged TOASTed value, which the
message leaves out. :data:`UNCHANGED` marks it; the caller takes it from the old tuple (present
under ``REPLICA IDENTITY FULL``) or refuses the change (see ``postgres.py``).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field

# PostgreSQL's epoch for timestamps in the protocol: microseconds since 2000-01-01 UTC
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class _Unchanged:
    """An unchanged TOASTed value (``u``): the message does not carry it."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()
Value = str | None | _Unchanged


@dataclass(frozen=True)
class Relation:
    relid: int
    schema: str
    name: str
    replica_identity: str  # d (default), n (nothing), f (full), i (index)
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # the LSN of the transaction's commit record
    commit_time: dt.datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: dt.datetime


@dataclass(frozen=True)
class Change:
    """An insert, update or delete of one row; ``new`` is None for a delete, ``old`` is the old
    key or row (``K``/``O``) when the message carries one."""

    op: str  # insert, update, delete
    relid: int
    new: tuple[Value, ...] | None
    old: tuple[Value, ...] | None = None


@dataclass(frozen=True)
class Truncate:
    relids: tuple[int, ...]
    options: int  # 1: CASCADE, 2: RESTART IDENTITY


@dataclass(frozen=True)
class Other:
    """A message a change row does not need (origin, type, logical message)."""

    kind: str


Message = Relation | Begin | Commit | Change | Truncate | Other


@dataclass
class _Buffer:
    data: bytes
    at: int = field(default=0)

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def byte(self) -> str:
        value = chr(self.data[self.at])
        self.at += 1
        return value

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        value = self.data[self.at : end].decode("utf-8")
        self.at = end + 1
        return value

    def text(self, length: int) -> str:
        value = self.data[self.at : self.at + length].decode("utf-8")
        self.at += length
        return value

    def time(self) -> dt.datetime:
        return PG_EPOCH + dt.timedelta(microseconds=self.take(">q"))

    def tuple(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.take(">h")):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind == "t":
                values.append(self.text(self.take(">i")))
            else:  # 'b' (binary) only comes with the binary option, which Tributary never asks for
                raise ValueError(f"pgoutput tuple column of kind {kind!r} is not supported")
        return tuple(values)


def _relation(buf: _Buffer) -> Relation:
    relid, schema, name = buf.take(">I"), buf.string(), buf.string()
    identity = buf.byte()
    columns = []
    for _ in range(buf.take(">h")):
        buf.take(">b")  # flags: 1 = part of the key
        columns.append(buf.string())
        buf.take(">I")  # type oid
        buf.take(">i")  # type modifier
    return Relation(relid, schema, name, identity, tuple(columns))


def _update(buf: _Buffer) -> Change:
    relid = buf.take(">I")
    old = None
    kind = buf.byte()
    if kind in ("K", "O"):
        old = buf.tuple()
        kind = buf.byte()
    if kind != "N":
        raise ValueError(f"pgoutput update message: expected N, got {kind!r}")
    return Change("update", relid, buf.tuple(), old)


def _truncate(buf: _Buffer) -> Truncate:
    count = buf.take(">i")
    options = buf.take(">b")
    return Truncate(tuple(buf.take(">I") for _ in range(count)), options)


def decode(data: bytes) -> Message:
    """One pgoutput v1 message."""
    buf = _Buffer(bytes(data))
    kind = buf.byte()
    if kind == "B":
        return Begin(buf.take(">Q"), buf.time(), buf.take(">I"))
    if kind == "C":
        buf.take(">b")  # flags, unused
        return Commit(buf.take(">Q"), buf.take(">Q"), buf.time())
    if kind == "R":
        return _relation(buf)
    if kind == "I":
        relid = buf.take(">I")
        buf.byte()  # N
        return Change("insert", relid, buf.tuple())
    if kind == "U":
        return _update(buf)
    if kind == "D":
        relid = buf.take(">I")
        buf.byte()  # K or O
        return Change("delete", relid, None, buf.tuple())
    if kind == "T":
        return _truncate(buf)
    return Other(kind)


def parse_lsn(text: str) -> int:
    """``16/B374D848`` as an integer (the order of log positions)."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(lsn: int) -> str:
    """An integer log position as PostgreSQL writes it: ``16/B374D848``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
