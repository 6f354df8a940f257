{# The table's columns in order: name, declared type, NOT NULL flag.
   A column is NOT NULL when declared so, and when it is the table's rowid alias (an INTEGER
   PRIMARY KEY of a rowid table), which can never hold NULL although table_info reports notnull 0.
   SQLite's own test of an alias: the table's one primary key column has no index of origin 'pk'
   (a non-alias key, `INTEGER PRIMARY KEY DESC` or `INT PRIMARY KEY` say, gets one, and may hold
   NULL in a rowid table: https://www.sqlite.org/lang_createtable.html#rowid). The key columns of
   a WITHOUT ROWID table are reported notnull 1 already. #}
SELECT c.name,
       c.type AS declared_type,
       c."notnull"
       OR (c.pk = 1
           AND (SELECT count(*) FROM pragma_table_info({{ bind('table') }}, {{ bind('schema') }}) WHERE pk > 0) = 1
           AND NOT EXISTS (SELECT 1 FROM pragma_index_list({{ bind('table') }}, {{ bind('schema') }})
                           WHERE origin = 'pk')) AS not_null
FROM pragma_table_info({{ bind('table') }}, {{ bind('schema') }}) AS c
ORDER BY c.cid
