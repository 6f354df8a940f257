{# Attach a PostgreSQL database read-only. The connection comes from libpq's PG* environment
   variables set by the caller, so no host, user or password is ever part of a SQL text. #}
ATTACH '' AS {{ ident(alias) }} (TYPE postgres, READ_ONLY)
