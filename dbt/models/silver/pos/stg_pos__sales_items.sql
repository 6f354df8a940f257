-- One row per receipt line.
with bronze as (
    select * from {{ bronze('pos', 'sales_items') }}
)

select
    cast(sales_item_id as bigint)        as sales_item_id,
    cast(sales_id as bigint)             as sale_id,
    cast(line_no as integer)             as line_no,
    cast(item_id as bigint)              as item_id,
    cast(quantity as integer)            as quantity,
    cast(unit_price as decimal(10, 2))   as unit_price,
    cast(coalesce(discount, 0) as decimal(10, 2)) as discount_amount,
    cast(line_amount as decimal(15, 2))  as line_amount,
    cast(sales_date as timestamp)        as sold_at,
    _batch_id,
    _ingestion_time,
    _source_system,
    month                                as _partition
from {{ dedup_latest('bronze', ['sales_item_id']) }}
