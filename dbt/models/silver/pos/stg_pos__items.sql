-- The item master as of the latest committed snapshot.
with bronze as (
    select * from {{ bronze('pos', 'items', latest_only=true) }}
)

select
    cast(item_id as bigint)             as item_id,
    cast(sku as varchar)                as sku,
    cast(description as varchar)        as item_name,
    coalesce(nullif(trim(category), ''), 'Uncategorised') as category,
    cast(unit_price as decimal(10, 2))  as list_price,
    cast(weight_kg as decimal(8, 3))    as weight_kg,
    coalesce(is_discontinued, false)    as is_discontinued,
    cast(snapshot_date as date)         as snapshot_date,
    _batch_id,
    _ingestion_time,
    _source_system
from {{ dedup_latest('bronze', ['item_id']) }}
