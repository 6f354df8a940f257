"""DuckDB's postgres scanner: which catalog types it reads exactly as the type map wants them,
the libpq settings and the statements that attach a source through it, and the DuckDB it runs in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tributary.dialects import DUCKDB
from tributary.dialects.columns import MAX_DECIMAL128, Column
from tributary.sql import render

# catalog types DuckDB's scanner returns exactly as the type map wants them. Not here: ``time``
# (the scanner reads 24:00:00 as 00:00:00), ``money`` (the scanner reads the locale's text) and
# every type read as text.
SCANNER_EXACT = {
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "text",
    "character varying", "character", "name", "uuid", "json", "jsonb", "bytea", "date",
    "timestamp without time zone", "timestamp with time zone", "interval", "enum",
}  # fmt: skip
# the element types of one-dimensional arrays the scanner reads as the lists the type map wants
SCANNER_ELEMENTS = {
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "text",
    "character varying", "date", "timestamp without time zone", "timestamp with time zone",
}  # fmt: skip
ALIAS = "src"
# DuckDB hands these over as text; pyarrow casts the text to arrow.json
CAST_TO_VARCHAR = {"json", "jsonb"}
# DuckDB hands a UUID over as text; as a BLOB it is the 16 bytes of arrow.uuid, in order
CAST_TO_BLOB = {"uuid"}
DUCKDB_AUDIT_TYPES = {
    "_batch_id": "VARCHAR",
    "_ingestion_time": "TIMESTAMPTZ",
    "_source_system": "VARCHAR",
    "_source_file": "VARCHAR",
    "_file_modified_time": "TIMESTAMPTZ",
}
# libpq's connection keywords (PostgreSQL 18; "Parameter Key Words" of libpq's documentation).
# Those a connection's extra holds reach DuckDB's scanner as they reach psycopg through the
# provider's hook, which hands the whole extra to the driver; the extra's other keys (the hook's
# own, such as ``cursor`` or ``iam``) are not libpq's and stay out.
LIBPQ_KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth",
    "channel_binding", "connect_timeout", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
    "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
    "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "min_protocol_version", "max_protocol_version", "krbsrvname",
    "gsslib", "gssdelegation", "service", "target_session_attrs", "load_balance_hosts",
    "sslkeylogfile", "scram_client_key", "scram_server_key", "oauth_issuer", "oauth_client_id",
    "oauth_client_secret", "oauth_scope",
})  # fmt: skip
SECRET = "tributary_source"


def _libpq_value(value: Any) -> str:
    # JSON true/false in an extra: libpq's boolean keywords (sslcompression, sslsni) take 1/0
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def scanner_attach(libpq: Mapping[str, Any], schema: str) -> list[str]:
    """The statements that attach the database of ``libpq`` (libpq keywords and their values) to
    a DuckDB as ``src``: a temporary secret that holds the settings, then a read-only ATTACH of
    ``schema`` through it. Keys that are not libpq keywords are refused."""
    unknown = sorted(set(libpq) - LIBPQ_KEYWORDS)
    if unknown:
        raise ValueError(f"not libpq connection keywords: {unknown}")
    settings = {key: _libpq_value(v) for key, v in sorted(libpq.items()) if v not in (None, "")}
    return [
        render(DUCKDB, "postgres_secret", name=SECRET, keys=list(settings), values=settings),
        render(DUCKDB, "attach_postgres", alias=ALIAS, values={"schema": schema, "secret": SECRET}),
    ]


def duckdb_connection() -> Any:
    """An in-memory DuckDB with the postgres scanner loaded from its PyPI package."""
    import duckdb

    con = duckdb.connect()
    try:
        from duckdb_extensions import import_extension

        import_extension("postgres_scanner", con=con)
    except ImportError:  # a DuckDB that can download its extensions
        con.execute("INSTALL postgres")
    con.execute("LOAD postgres")
    return con


def scanner_exact(column: Column) -> bool:
    source = column.source
    if source.data_type == "array":
        element = source.element
        if element is None or element.data_type == "numeric":
            return element is not None and scanner_exact(Column(element, pa.null()))
        return element.data_type in SCANNER_ELEMENTS
    if source.data_type == "numeric":
        # DuckDB's decimals hold 38 digits; a wider numeric would come back as a double
        precision, scale = source.precision or 0, source.scale or 0
        return 0 < precision <= MAX_DECIMAL128 and 0 <= scale <= precision
    return source.data_type in SCANNER_EXACT
