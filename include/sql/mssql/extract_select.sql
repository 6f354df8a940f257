{% from "common/extract_source.sql" import extract_select with context %}
{# The rows of one extract (common/extract_source.sql); window bounds arrive as text SQL Server
   reads alike under every language (see readers/mssql.py). One CPU of the source, as the
   replication's select. #}
{{ extract_select() | trim }}
OPTION (MAXDOP 1)
