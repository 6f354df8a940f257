{# DuckDB reads the rows through the scanner and writes the Parquet parts itself: no batch
   crosses into Python. `select` is a rendered select_attached (the table, a window, or one slice
   of a window); `varchar_columns` are cast to VARCHAR where DuckDB's own type would be written differently
   (uuid, json); the audit columns are constants of the batch. Files land in `target`, a new
   folder, as part0.parquet, part1.parquet, ... of `row_groups_per_file` row groups each. #}
{% set varchar_columns = varchar_columns | default([]) %}
{% set audit_columns = audit_columns | default([]) %}
{% if select is not defined %}{% set select = "SELECT * FROM " ~ ident(table) %}{% endif %}
COPY (
  SELECT
{% for column in columns %}
    {% if column in varchar_columns %}CAST(q.{{ ident(column) }} AS VARCHAR) AS {{ ident(column) }}{% else %}q.{{ ident(column) }}{% endif %}{{ "," if not loop.last or audit_columns }}
{% endfor %}
{% for name, sql_type in audit_columns %}
    CAST({{ bind(name) }} AS {{ sql_type }}) AS {{ ident(name) }}{{ "," if not loop.last }}
{% endfor %}
  FROM ({{ select }}) AS q
) TO {{ bind('target') }} (
  FORMAT parquet,
  COMPRESSION {{ compression | default("SNAPPY") }},
  ROW_GROUP_SIZE {{ row_group_size | default(100000) }},
  ROW_GROUPS_PER_FILE {{ row_groups_per_file | default(10) }},
  FILENAME_PATTERN 'part{i}'
)
