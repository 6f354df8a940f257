{# The window's row count as a bigint (COUNT(*) is an int and overflows at 2**31 rows), with the
   same filter as select.sql and the same OPTION (MAXDOP 1), for the reason given there: without
   an index on the date column the count is a full scan, the very case where the optimizer would
   otherwise spread it over every CPU it may. #}
SELECT COUNT_BIG(*)
FROM {{ ident(schema) }}.{{ ident(table) }}
{% if date_column %}
WHERE {{ ident(date_column) }} >= {{ bind('window_start') }}
  AND {{ ident(date_column) }} < {{ bind('window_end') }}
{% endif %}
OPTION (MAXDOP 1)
