{% from "common/row_filter.sql" import row_filter with context %}
{# The window's row count. For each column in nan_columns, also the rows holding NaN, which a
   numeric(p,s) column accepts and an Arrow decimal cannot hold. #}
{% set nan_columns = nan_columns | default([]) %}
SELECT count(*){% for column in nan_columns %}, count(*) FILTER (WHERE {{ ident(column) }} = 'NaN'){% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
