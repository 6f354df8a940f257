"""DuckDB's postgres scanner writing Parquet itself: ``COPY (<query>) TO <file> (FORMAT parquet)``.

``--mode query``: ``postgres_query('src', <sql>)``, the SQL as-is in PostgreSQL over one session
(a window's filter can use an index). ``--mode scan``: a table scan of the attached database with
DuckDB's defaults, parallel ``ctid`` ranges over several sessions, the window's filter pushed into
each range (the whole table is visited even for a month). DuckDB's default threads either way.
"""

from __future__ import annotations

from _common import Report, libpq, parser

p = parser(__doc__)
p.add_argument("--mode", choices=["query", "scan"], default="query")
p.add_argument("--where", default="", help="scan mode: the filter")
args = p.parse_args()

import duckdb  # noqa: E402

report = Report()
con = duckdb.connect()
try:
    from duckdb_extensions import import_extension  # the extension's PyPI package (no download)

    import_extension("postgres_scanner", con=con)
except ImportError:
    con.execute("INSTALL postgres")
con.execute("LOAD postgres")
source = libpq()
con.execute(
    f"ATTACH 'host={source['host']} port={source['port']} user={source['user']} dbname={source['dbname']}' "
    "AS src (TYPE postgres, READ_ONLY)"
)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


if args.mode == "query":
    select = f"SELECT * FROM postgres_query('src', {quoted(args.sql)})"
else:
    select = "SELECT * FROM src.public.sales" + (f" WHERE {args.where}" if args.where else "")
written = con.execute(
    f"COPY ({select}) TO {quoted(args.out)} (FORMAT parquet, COMPRESSION snappy)"
).fetchone()
report.done(int(written[0]) if written else -1)
