{% from "common/row_filter.sql" import row_filter with context %}
{# The window's row count as a bigint (COUNT(*) is an int and overflows at 2**31 rows), with the
   same filter as select.sql and the same OPTION (MAXDOP 1), for the reason given there: without
   an index on the date column the count is a full scan, the very case where the optimizer would
   otherwise spread it over every CPU it may. #}
SELECT COUNT_BIG(*)
FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
OPTION (MAXDOP 1)
