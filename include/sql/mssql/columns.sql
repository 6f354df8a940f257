{# The table's columns in order, with the precision and scale of decimal types. #}
SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE,
       CASE WHEN IS_NULLABLE = 'YES' THEN 1 ELSE 0 END AS nullable
FROM INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA = {{ bind('schema') }}
  AND TABLE_NAME = {{ bind('table') }}
ORDER BY ORDINAL_POSITION
