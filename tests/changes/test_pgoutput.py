"""The pgoutput v1 decoder on messages built by hand (the integration tests decode real ones)."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from tributary.changes import pgoutput


def _s(text: str) -> bytes:
    return text.encode() + b"\0"


def _tuple(*values: object) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is pgoutput.UNCHANGED:
            out += b"u"
        else:
            data = str(value).encode()
            out += b"t" + struct.pack(">i", len(data)) + data
    return out


def test_every_message_kind_decodes() -> None:
    begin = pgoutput.decode(b"B" + struct.pack(">QqI", 0x1_0000_0010, 86_400_000_000, 7))
    assert begin == pgoutput.Begin(0x1_0000_0010, dt.datetime(2000, 1, 2, tzinfo=dt.UTC), 7)
    relation = pgoutput.decode(
        b"R" + struct.pack(">I", 42) + _s("public") + _s("items") + b"d" + struct.pack(">h", 2)
        + b"\x01" + _s("id") + struct.pack(">Ii", 23, -1) + b"\x00" + _s("note") + struct.pack(">Ii", 25, -1)
    )  # fmt: skip
    assert relation == pgoutput.Relation(42, "public", "items", "d", ("id", "note"))
    insert = pgoutput.decode(b"I" + struct.pack(">I", 42) + b"N" + _tuple("1", "é ✓"))
    assert insert == pgoutput.Change("insert", 42, ("1", "é ✓"))
    update = pgoutput.decode(
        b"U" + struct.pack(">I", 42) + b"O" + _tuple("1", "old") + b"N" + _tuple("1", pgoutput.UNCHANGED)
    )
    assert update == pgoutput.Change("update", 42, ("1", pgoutput.UNCHANGED), ("1", "old"))
    plain_update = pgoutput.decode(b"U" + struct.pack(">I", 42) + b"N" + _tuple("2", None))
    assert plain_update == pgoutput.Change("update", 42, ("2", None))
    delete = pgoutput.decode(b"D" + struct.pack(">I", 42) + b"K" + _tuple("1", None))
    assert delete == pgoutput.Change("delete", 42, None, ("1", None))
    truncate = pgoutput.decode(b"T" + struct.pack(">ibII", 2, 1, 42, 43))
    assert truncate == pgoutput.Truncate((42, 43), 1)
    commit = pgoutput.decode(b"C" + struct.pack(">bQQq", 0, 5, 9, 0))
    assert commit == pgoutput.Commit(5, 9, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert pgoutput.decode(b"O" + struct.pack(">Q", 1) + _s("origin")) == pgoutput.Other("O")


def test_binary_tuple_values_are_refused() -> None:
    with pytest.raises(ValueError, match="kind 'b'"):
        pgoutput.decode(b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"b")
