{# The table's columns the session's role may not SELECT. information_schema.columns leaves them
   out (it lists only the columns a role has some privilege on); pg_attribute lists them all. #}
SELECT a.attname
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = {{ bind('schema') }}
  AND c.relname = {{ bind('table') }}
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND NOT has_column_privilege(c.oid, a.attnum, 'SELECT')
ORDER BY a.attnum
