{# The row filter every dialect's select and count share. `date_column` is the column the run's
   bounds apply to (the date column of a window table, the watermark column of a watermark
   table); `open_start` drops the lower bound (a watermark table's first run); `include_nulls`
   adds the rows whose column is NULL (a watermark table's full reload); `only_nulls` keeps
   only those (to count them). Bounds are bind values. #}
{% macro row_filter() %}
{% if date_column and only_nulls | default(false) %}
WHERE {{ ident(date_column) }} IS NULL
{% elif date_column %}
WHERE {{ "(" if include_nulls | default(false) }}{% if not open_start | default(false) %}{{ ident(date_column) }} >= {{ bind('window_start') }}
  AND {% endif %}{{ ident(date_column) }} < {{ bind('window_end') }}{% if include_nulls | default(false) %}

   OR {{ ident(date_column) }} IS NULL){% endif %}

{% endif %}
{% endmacro %}
