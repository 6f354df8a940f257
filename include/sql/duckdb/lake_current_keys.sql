{# The keys the lake holds now, for deletes: detect_by_keys. `files` is a glob of local Parquet
   files of the key `columns` with `_op`, `_ingestion_time` and `_batch_id`, one per part of every
   committed partition of the table (data and deletes= partitions alike). Per key, the latest row
   (newest _ingestion_time, then _batch_id) decides: a key whose latest row is a tombstone is gone.
   NULL key values are one key, as PARTITION BY groups them. The window spills to disk beyond the
   session's memory_limit. #}
CREATE TABLE lake_current AS
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

FROM (
  SELECT
{% for column in columns %}
    {{ ident(column) }},
{% endfor %}
    _op
  FROM read_parquet({{ bind('files') }}, union_by_name = true)
  QUALIFY row_number() OVER (
    PARTITION BY {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %}

    ORDER BY _ingestion_time DESC, _batch_id DESC
  ) = 1
)
WHERE _op IS DISTINCT FROM 'delete'
