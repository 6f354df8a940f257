{#- No key deleted in bronze is in the model: a key whose latest bronze row (in the order of
    tributary_ordering: order_by, then _ingestion_time, then _batch_id) is a delete — a change row
    of mode 'cdc' or a tombstone of deletes 'detect_by_keys' — must be gone from silver, unless
    it came back later. primary_key names the bronze columns, columns the model's (default: the
    same names). -#}
{% test no_deleted_keys(model, source_name, table_name, primary_key, order_by=none, columns=none) %}
{%- set keys = [primary_key] if primary_key is string else primary_key -%}
{%- set columns = ([columns] if columns is string else columns) or keys -%}
with latest as (
    select * from {{ dedup_latest(tributary_change_rows(bronze(source_name, table_name)), keys, order_by) }}
)
select {% for key in keys %}latest.{{ key }}{{ ", " if not loop.last }}{% endfor %}, latest._batch_id as deleted_in
from latest
join {{ model }} as silver
  on {% for key in keys %}silver.{{ columns[loop.index0] }} = latest.{{ key }}{{ " and " if not loop.last }}{% endfor %}
where latest._op = 'delete'
{% endtest %}
