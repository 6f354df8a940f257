{% from "common/extract_source.sql" import extract_from with context %}
{% from "common/row_filter.sql" import row_filter with context %}
{# The rows of one extract: every column (or the definition's `columns`), and with an incremental
   filter only the rows of the run's window (bounds are bind values). #}
SELECT {% if columns %}{% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}{% else %}*{% endif %}

FROM {{ extract_from() | trim }}
{{ row_filter() }}
