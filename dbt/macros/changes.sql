{#- Current state from change rows: what a table holds now, given the bronze rows of its changes.

    Bronze may hold change rows of mode 'cdc' (_op insert, update, delete, truncate, with a
    position: _lsn and _seq, or _change_version), data rows of the other modes (no _op: present)
    and the tombstones of deletes 'detect_by_keys' (_op = 'delete', the key and nothing else). Per
    key, the latest row wins (tributary_ordering: order_by, then _ingestion_time, then _batch_id);
    a key whose latest row is a delete is gone; a truncate removes every row before it (in the same
    order), so only what came after it survives. The change columns are left out; the table's
    columns, the audit columns and the partition key (month, batch, ...) stay.

        with bronze as (
            select * from {{ bronze('pos', 'customers') }}
        )
        select customer_id, ... from {{ tributary_current('bronze', ['customer_id']) }}

        -- a cdc table from PostgreSQL: the commit's position, then the change's place in it
        {{ tributary_current('bronze', ['id'], order_by=['_lsn desc', '_seq desc']) }}
        -- from SQL Server change tracking
        {{ tributary_current('bronze', ['id'], order_by=['_change_version desc']) }}

    order_by orders the changes of a key: positions of the change log only. A source column (e.g.
    modified_at) does not order a tombstone, which has none: leave it out where deletes are
    detected by keys, the tombstone's _ingestion_time then places it. -#}
{% macro tributary_current(relation, primary_key, order_by=none) -%}
    {%- set ordering = tributary_ordering(order_by) -%}
    (
        with tributary_latest as (
            select * from {{ dedup_latest(tributary_change_rows(relation), primary_key, order_by) }}
        ),
        tributary_placed as (
            -- the latest rows in the order of the changes; a truncate has no key, its own
            -- partition above: the newest one is here
            select *, row_number() over (order by {{ ordering }}) as _tributary_place
            from tributary_latest
        )
        select * exclude ({{ tributary_change_columns() | join(', ') }}, _tributary_place)
        from tributary_placed
        where _op is distinct from 'delete'
          and _op is distinct from 'truncate'
          and _tributary_place < coalesce(
              (select min(_tributary_place) from tributary_placed where _op = 'truncate'),
              9223372036854775807
          )
    )
{%- endmacro %}


{#- The columns of a change row that are not the table's: what tributary_current leaves out (the
    deletes partition key too, NULL on every row that survives). -#}
{% macro tributary_change_columns() -%}
    {{ return(['_op', '_lsn', '_seq', '_change_version', '_commit_time', 'deletes']) }}
{%- endmacro %}


{#- A relation's rows with every change column, NULL where the relation has none (_op a varchar): a bronze table
    with no change row and no tombstone yet has no _op, and its rows are present. The empty
    side of the union has NULL-typed columns, which take the relation's types where it has them. -#}
{% macro tributary_change_rows(relation) -%}
    (
        select * from {{ relation }}
        union all by name
        select {% for column in tributary_change_columns() -%}
            null{{ "::varchar" if column == "_op" }} as {{ column }}{{ ", " if not loop.last }}
        {%- endfor %}
        where false
    )
{%- endmacro %}
