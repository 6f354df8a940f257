{% from "common/row_filter.sql" import row_filter with context %}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
