{#- The latest row per primary key: for tables whose rows arrive more than once — a watermark
    table's changed rows in every batch, a row that moved to another window, a window replicated
    again. "Latest" is the newest _ingestion_time, then the greatest _batch_id (batch ids sort by
    time); order_by puts a source column first where the source knows better (e.g. modified_at).

        select * from {{ dedup_latest('bronze', ['id']) }}
-#}
{% macro dedup_latest(relation, primary_key, order_by=none) -%}
    {%- set keys = [primary_key] if primary_key is string else primary_key -%}
    {%- set ordering = (order_by or []) + ['_ingestion_time desc', '_batch_id desc'] -%}
    (
        select *
        from {{ relation }}
        qualify row_number() over (
            partition by {{ keys | join(', ') }}
            order by {{ ordering | join(', ') }}
        ) = 1
    )
{%- endmacro %}
