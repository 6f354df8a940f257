{% from "common/row_filter.sql" import row_filter with context %}
{# Columns in text_columns are read as PostgreSQL's text output of the value (see
   postgres_types.read_as_text). #}
{% set text_columns = text_columns | default([]) %}
SELECT {% for column in columns %}{{ ident(column) }}{% if column in text_columns %}::text AS {{ ident(column) }}{% endif %}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
