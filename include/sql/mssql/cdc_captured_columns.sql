{# The columns a capture instance records, in their order. #}
SELECT cc.column_name
FROM cdc.captured_columns AS cc
JOIN cdc.change_tables AS ct ON ct.object_id = cc.object_id
WHERE ct.capture_instance = {{ bind('instance') }}
ORDER BY cc.column_ordinal
