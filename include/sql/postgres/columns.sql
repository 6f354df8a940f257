{# The table's columns in order, with the precision and scale of numeric types. #}
SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable = 'YES' AS nullable
FROM information_schema.columns
WHERE table_schema = {{ bind('schema') }}
  AND table_name = {{ bind('table') }}
ORDER BY ordinal_position
