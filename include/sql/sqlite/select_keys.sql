{# The primary key of every row, for deletes: detect_by_keys. No ORDER BY and no filter, so that
   the engine can answer from the key's index alone (SQLite: a covering index scan). #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
