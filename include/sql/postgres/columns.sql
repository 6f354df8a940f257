{# The table's columns in order, with the precision and scale of numeric types.
   information_schema reports a negative numeric scale (PostgreSQL 15+) as its 11-bit two's
   complement (-2 as 2046); valid scales lie within -1000..1000, so larger values are negative.
   Enums are named "enum" (information_schema says USER-DEFINED, as for extension types). An array
   declared with at most one dimension (pg_attribute.attndims 0 or 1) comes with its element type,
   named as information_schema names types, and the element's numeric precision and scale: it is
   read as a list; an array declared with more dimensions has none, and is read as text. #}
SELECT c.column_name,
       CASE WHEN c.data_type = 'USER-DEFINED' AND t.typtype = 'e' THEN 'enum' ELSE c.data_type END AS data_type,
       c.numeric_precision,
       CASE WHEN c.data_type = 'numeric' AND c.numeric_scale > 1023 THEN c.numeric_scale - 2048
            ELSE c.numeric_scale END AS numeric_scale,
       c.is_nullable = 'YES' AS nullable,
       CASE WHEN c.data_type = 'ARRAY' AND a.attndims <= 1 THEN
            CASE WHEN et.typtype = 'e' THEN 'enum'
                 WHEN etn.nspname = 'pg_catalog' THEN format_type(et.oid, NULL)
                 ELSE 'USER-DEFINED' END
       END AS element_type,
       information_schema._pg_numeric_precision(et.oid, a.atttypmod) AS element_precision,
       information_schema._pg_numeric_scale(et.oid, a.atttypmod) AS element_scale
FROM information_schema.columns AS c
JOIN pg_catalog.pg_namespace AS n ON n.nspname = c.table_schema
JOIN pg_catalog.pg_class AS r ON r.relnamespace = n.oid AND r.relname = c.table_name
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attname = c.column_name
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type AS et ON et.oid = t.typelem AND c.data_type = 'ARRAY'
LEFT JOIN pg_catalog.pg_namespace AS etn ON etn.oid = et.typnamespace
WHERE c.table_schema = {{ bind('schema') }}
  AND c.table_name = {{ bind('table') }}
ORDER BY c.ordinal_position
