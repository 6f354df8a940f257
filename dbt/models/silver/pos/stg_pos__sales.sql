-- One row per receipt: the latest version of each id across the committed months.
with bronze as (
    select * from {{ bronze('pos', 'sales') }}
)

select
    cast(id as bigint)                  as sale_id,
    cast(sales_no as varchar)           as sales_no,
    cast(location_id as bigint)         as location_id,
    cast(customer_id as bigint)         as customer_id,
    cast(sales_date as timestamp)       as sold_at,
    cast(business_date as date)         as business_date,
    cast(total_amount as decimal(15, 2)) as total_amount,
    cast(tax_amount as decimal(15, 2))  as tax_amount,
    upper(trim(payment_type))           as payment_type,
    coalesce(is_void, false)            as is_void,
    nullif(trim(remark), '')            as remark,
    _batch_id,
    _ingestion_time,
    _source_system,
    month                               as _partition
from {{ dedup_latest('bronze', ['id']) }}
