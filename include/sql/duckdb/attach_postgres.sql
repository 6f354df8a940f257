{# Attach a PostgreSQL database read-only. The connection comes from libpq's PG* environment
   variables set by the caller, so no host, user or password is ever part of a SQL text.
   SCHEMA limits DuckDB's catalog load to the one schema read, not every table of the database. #}
ATTACH '' AS {{ ident(alias) }} (TYPE postgres, READ_ONLY, SCHEMA {{ bind('schema') }})
