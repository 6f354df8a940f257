-- Loyalty customers as they are now: every committed snapshot and the tombstones of the customers
-- erased in the source (deletes: detect_by_keys), the latest row per customer, erased ones gone.
-- The order is the run's (_ingestion_time): a tombstone has no modified_at to order it by.
with bronze as (
    select * from {{ bronze('pos', 'customers') }}
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
from {{ tributary_current('bronze', ['customer_id']) }}
