{% from "common/row_filter.sql" import row_filter with context %}
{# Read a table of an attached database; the window filter is pushed down into the source query. #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(alias) }}.{{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
