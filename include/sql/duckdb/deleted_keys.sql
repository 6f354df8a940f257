{# The keys the lake holds now (table lake_current) that the source no longer has, written to the
   Parquet file `target`: an anti-join with the source's keys (`source_keys`, a Parquet file of
   the key `columns`), NULLs equal. #}
COPY (
  SELECT
{% for column in columns %}
    l.{{ ident(column) }}{{ "," if not loop.last }}
{% endfor %}
  FROM lake_current AS l
  ANTI JOIN read_parquet({{ bind('source_keys') }}) AS s ON
{% for column in columns %}
    l.{{ ident(column) }} IS NOT DISTINCT FROM s.{{ ident(column) }}{{ " AND" if not loop.last }}
{% endfor %}
) TO {{ bind('target') }} (FORMAT parquet)
