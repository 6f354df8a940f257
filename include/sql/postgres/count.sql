{% from "common/row_filter.sql" import row_filter with context %}
{# The window's row count. For each column in nan_columns, also the rows holding NaN, which a
   numeric(p,s) column accepts and an Arrow decimal cannot hold; for each column in
   interval_columns, the rows whose time part (hours, minutes, seconds) exceeds the ±2^63
   nanoseconds of Arrow's month_day_nano_interval (about 2.5 million hours), which DuckDB's
   scanner would wrap. #}
{% set nan_columns = nan_columns | default([]) %}
{% set interval_columns = interval_columns | default([]) %}
SELECT count(*){% for column in nan_columns %}, count(*) FILTER (WHERE {{ ident(column) }} = 'NaN'){% endfor %}
{%- for column in interval_columns %}, count(*) FILTER (WHERE abs(extract(epoch FROM {{ ident(column) }} - date_trunc('day', {{ ident(column) }}))) > 9223372036.854775){% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
