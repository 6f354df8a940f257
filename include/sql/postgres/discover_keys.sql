{# A table's columns for `tributary discover`: name, position in the primary key (0: none) and
   whether an index leads with it (indkey is an int2vector: 0-based, unlike arrays). #}
SELECT a.attname,
       coalesce((SELECT k.position
                 FROM pg_catalog.pg_index AS i,
                      unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
                 WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum), 0) AS key_position,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i
               WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum) AS indexed
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid
WHERE n.nspname = {{ bind('schema') }}
  AND c.relname = {{ bind('table') }}
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attnum
