{#- The latest row per primary key: for tables whose rows arrive more than once — a watermark
    table's changed rows in every batch, a row that moved to another window, a window replicated
    again. "Latest" is the newest _ingestion_time, then the greatest _batch_id (batch ids sort by
    time); order_by puts a source column first where the source knows better (e.g. modified_at).

        select * from {{ dedup_latest('bronze', ['id']) }}

    A table whose bronze has deletes (change rows, tombstones) wants tributary_current
    (macros/changes.sql), which applies them on top of this. -#}
{% macro dedup_latest(relation, primary_key, order_by=none) -%}
    {%- set keys = [primary_key] if primary_key is string else primary_key -%}
    (
        select *
        from {{ relation }}
        qualify row_number() over (
            partition by {{ keys | join(', ') }}
            order by {{ tributary_ordering(order_by) }}
        ) = 1
    )
{%- endmacro %}


{#- The order of a table's rows, newest first: order_by (a list of "<column> desc" terms), then the
    newest _ingestion_time, then the greatest _batch_id. -#}
{% macro tributary_ordering(order_by=none) -%}
    {%- set terms = [order_by] if order_by is string else (order_by or []) -%}
    {{- (terms + ['_ingestion_time desc', '_batch_id desc']) | join(', ') -}}
{%- endmacro %}
