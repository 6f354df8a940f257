"""A source column as the catalog describes it, and the Arrow type Tributary writes for it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Arrow decimals: decimal128 holds up to 38 digits, decimal256 up to 76.
MAX_DECIMAL128 = 38
MAX_DECIMAL256 = 76


@dataclass(frozen=True)
class SourceColumn:
    """One column of a source table, from the source catalog."""

    name: str
    data_type: str  # the catalog's type name, lower case, without arguments
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    # a one-dimensional array's element (PostgreSQL), as the catalog describes it
    element: SourceColumn | None = None


@dataclass(frozen=True)
class Column:
    """A source column together with the Arrow type it is written as."""

    source: SourceColumn
    arrow_type: pa.DataType

    @property
    def name(self) -> str:
        return self.source.name

    def field(self) -> pa.Field:
        return pa.field(self.source.name, self.arrow_type, nullable=self.source.nullable)


def decimal_type(precision: int, scale: int) -> pa.DataType:
    """The narrowest Arrow decimal that holds ``precision`` digits exactly."""
    if precision <= MAX_DECIMAL128:
        return pa.decimal128(precision, scale)
    return pa.decimal256(min(precision, MAX_DECIMAL256), scale)


def schema_of(columns: list[Column]) -> pa.Schema:
    return pa.schema([c.field() for c in columns])
