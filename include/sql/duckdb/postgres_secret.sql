{# The libpq settings of one PostgreSQL connection as a temporary DuckDB secret: held in this
   DuckDB's memory only, shown redacted by duckdb_secrets(), and handed to libpq by an ATTACH that
   names it -- no PG* environment variable, so two sources in one process never share settings.
   Keys are libpq keywords from Tributary's fixed list; values are literals. #}
CREATE TEMPORARY SECRET {{ ident(name) }} (
    TYPE postgres
{% for key in keys %}
    , {{ key }} {{ bind(key) }}
{% endfor %}
)
