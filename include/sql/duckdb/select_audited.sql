{# The rows to write, with the audit columns of the batch as constants: DuckDB reads them through
   the scanner and hands them over as Arrow batches, which pyarrow writes as Parquet parts of the
   exact schema (DuckDB's own Parquet writer marks every column optional, NOT NULL ones too).
   `select` is a rendered select_attached (the table, a window, or one slice of a window);
   `varchar_columns` are cast to VARCHAR (json, handed over as text), `blob_columns` to BLOB (uuid:
   its 16 bytes, which pyarrow takes as arrow.uuid). #}
{% set varchar_columns = varchar_columns | default([]) %}
{% set blob_columns = blob_columns | default([]) %}
{% set audit_columns = audit_columns | default([]) %}
{% if select is not defined %}{% set select = "SELECT * FROM " ~ ident(table) %}{% endif %}
SELECT
{% for column in columns %}
  {% if column in varchar_columns %}CAST(q.{{ ident(column) }} AS VARCHAR) AS {{ ident(column) }}{% elif column in blob_columns %}CAST(q.{{ ident(column) }} AS BLOB) AS {{ ident(column) }}{% else %}q.{{ ident(column) }}{% endif %}{{ "," if not loop.last or audit_columns }}
{% endfor %}
{% for name, sql_type in audit_columns %}
  CAST({{ bind(name) }} AS {{ sql_type }}) AS {{ ident(name) }}{{ "," if not loop.last }}
{% endfor %}
FROM ({{ select }}) AS q
