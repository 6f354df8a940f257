{# The postgres scanner holds one PostgreSQL session per thread: an extract over `sessions`
   sessions holds as many slots of the source pool. With one session, a table (or a window,
   whose filter is pushed down to where it can use an index) is one COPY of one query. With more,
   a whole table is read as parallel ctid ranges, one COPY per range; a window is read as
   `sessions` slices of its bounds (see PostgresReader.write_parts), each its own indexed query. #}
{% set sessions = sessions | default(1) %}
SET threads = {{ sessions }};
SET pg_use_ctid_scan = {{ "true" if sessions > 1 and ctid_scan | default(false) else "false" }};
SET pg_pool_max_connections = {{ sessions }};
