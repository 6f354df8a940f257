{# Read a table of an attached database; the window filter is pushed down into the source query. #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(alias) }}.{{ ident(schema) }}.{{ ident(table) }}
{% if date_column %}
WHERE {{ ident(date_column) }} >= {{ bind('window_start') }}
  AND {{ ident(date_column) }} < {{ bind('window_end') }}
{% endif %}
