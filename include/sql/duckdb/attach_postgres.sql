{# Attach a PostgreSQL database read-only. The connection's settings come from the secret made by
   postgres_secret.sql, so no host, user or password is part of the ATTACH text.
   SCHEMA limits DuckDB's catalog load to the one schema read, not every table of the database. #}
ATTACH '' AS {{ ident(alias) }} (TYPE postgres, READ_ONLY, SCHEMA {{ bind('schema') }}, SECRET {{ bind('secret') }})
