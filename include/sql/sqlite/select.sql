SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{% if date_column %}
WHERE {{ ident(date_column) }} >= {{ bind('window_start') }}
  AND {{ ident(date_column) }} < {{ bind('window_end') }}
{% endif %}
