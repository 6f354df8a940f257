{# The tables of a schema, for `tributary discover`: name and a row estimate. SQLite keeps no
   row estimate unless ANALYZE ran (sqlite_stat1 is optional), so discover counts instead. #}
SELECT name, NULL AS row_estimate
FROM pragma_table_list
WHERE schema = {{ bind('schema') }}
  AND type = 'table'
  AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY name
