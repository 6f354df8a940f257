"""SQL Server through the provider's pymssql connection."""

from __future__ import annotations

from tributary.dialects import MSSQL, mssql_types
from tributary.readers.base import SourceReader


class MsSqlReader(SourceReader):
    dialect = MSSQL
    arrow_type = staticmethod(mssql_types.arrow_type)
