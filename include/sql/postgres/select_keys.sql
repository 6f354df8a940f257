{# The primary key of every row, for deletes: detect_by_keys. No ORDER BY and no filter, so that
   the planner can choose an index-only scan of the primary key's index (its cost depends on the
   visibility map: a freshly vacuumed table reads the index alone). Columns in text_columns are
   read as PostgreSQL's text of the value, as select.sql reads them. #}
{% set text_columns = text_columns | default([]) %}
SELECT {% for column in columns %}{{ ident(column) }}{% if column in text_columns %}::text AS {{ ident(column) }}{% endif %}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
