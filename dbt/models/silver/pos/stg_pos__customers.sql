-- Loyalty customers as of the latest committed snapshot.
with bronze as (
    select * from {{ bronze('pos', 'customers', latest_only=true) }}
)

select
    cast(customer_id as bigint)         as customer_id,
    cast(first_name as varchar)         as first_name,
    cast(last_name as varchar)          as last_name,
    lower(nullif(trim(email), ''))      as email,
    upper(nullif(trim(loyalty_tier), '')) as loyalty_tier,
    cast(created_at as timestamp)       as created_at,
    cast(modified_at as timestamp)      as modified_at,
    cast(snapshot_date as date)         as snapshot_date,
    _batch_id,
    _ingestion_time,
    _source_system
from {{ dedup_latest('bronze', ['customer_id'], order_by=['modified_at desc']) }}
