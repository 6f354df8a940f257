{# The primary key of every row, for deletes: detect_by_keys. No ORDER BY and no filter, so that
   the optimizer can scan the narrowest index that covers the key (a nonclustered primary key's
   index, or the clustered index). OPTION (MAXDOP 1), for the reason given in select.sql. #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
OPTION (MAXDOP 1)
