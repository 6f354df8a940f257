{# What an extract reads, as the FROM item of its SELECT: a table or view; a function returning
   rows (PostgreSQL set-returning function, DuckDB table macro, SQL Server table-valued function)
   called with bind parameters in the order of the definition's `parameters`; or the text of the
   extract's query file as a derived table. #}
{% macro extract_object() %}{% if schema %}{{ ident(schema) }}.{% endif %}{{ ident(name) }}{% endmacro %}
{% macro extract_from() %}
{% if object_type == "query" %}
(
{{ query }}
) AS extract_query
{% elif object_type == "function" %}
{{ extract_object() }}({% for arg in arguments %}{{ bind(arg) }}{{ ", " if not loop.last }}{% endfor %}) AS extract_rows
{% else %}
{{ extract_object() }}
{% endif %}
{% endmacro %}
{# The rows of one extract: every column (or the definition's `columns`), and with an incremental
   filter only the rows of the run's window. #}
{% macro extract_select() %}
{% from "common/row_filter.sql" import row_filter with context %}
SELECT {% if columns %}{% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}{% else %}*{% endif %}

FROM {{ extract_from() | trim }}
{{ row_filter() }}
{% endmacro %}
