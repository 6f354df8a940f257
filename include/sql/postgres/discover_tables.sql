{# The tables of a schema, for `tributary discover`: name and the planner's row estimate
   (reltuples: -1 or 0 before the first VACUUM or ANALYZE, then discover counts). Partitions are
   left out: their parent is the table a pipeline reads. #}
SELECT c.relname, c.reltuples::bigint AS row_estimate
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = {{ bind('schema') }}
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
ORDER BY c.relname
