{% from "common/row_filter.sql" import row_filter with context %}
SELECT count(*)
FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
