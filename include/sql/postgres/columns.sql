{# The table's columns in order, with the precision and scale of numeric types.
   information_schema reports a negative numeric scale (PostgreSQL 15+) as its 11-bit two's
   complement (-2 as 2046); valid scales lie within -1000..1000, so larger values are negative. #}
SELECT column_name,
       data_type,
       numeric_precision,
       CASE WHEN data_type = 'numeric' AND numeric_scale > 1023 THEN numeric_scale - 2048
            ELSE numeric_scale END AS numeric_scale,
       is_nullable = 'YES' AS nullable
FROM information_schema.columns
WHERE table_schema = {{ bind('schema') }}
  AND table_name = {{ bind('table') }}
ORDER BY ordinal_position
