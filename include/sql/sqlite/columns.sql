{# The table's columns in order: name, declared type, NOT NULL flag. #}
SELECT name, type AS declared_type, "notnull" AS not_null
FROM pragma_table_info({{ bind('table') }}, {{ bind('schema') }})
ORDER BY cid
