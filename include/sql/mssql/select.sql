{% from "common/row_filter.sql" import row_filter with context %}
{# The table's rows, or a window of them. Window bounds arrive as text in a form SQL Server reads
   alike under every language and DATEFORMAT (readers/mssql.py) and convert to the date column's
   own type, so the filter can seek on an index of that column.

   OPTION (MAXDOP 1), kept on purpose: the extract uses one CPU of the source. A source is an OLTP
   primary as often as a replica (the POS vendor of seed 004 asked us off its primary after our
   reads slowed its tills), and a parallel plan for a large scan takes up to the server's MAXDOP
   schedulers per session, times max_connections sessions. One thread bounds Tributary to
   max_connections CPUs, the same bound the pool puts on sessions. It costs no speed worth
   having: the rows leave through one TDS stream decoded by pymssql in one Python thread, far
   slower than one server thread scans, so a parallel plan would add load, not throughput. #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM {{ ident(schema) }}.{{ ident(table) }}
{{ row_filter() }}
OPTION (MAXDOP 1)
