-- Shops as of the latest committed snapshot.
with bronze as (
    select * from {{ bronze('pos', 'locations', latest_only=true) }}
)

select
    cast(location_id as bigint)         as location_id,
    cast(name as varchar)               as location_name,
    cast(city as varchar)               as city,
    upper(trim(country))                as country_code,
    cast(opened_on as date)             as opened_on,
    coalesce(is_active, false)          as is_active,
    cast(snapshot_date as date)         as snapshot_date,
    _batch_id,
    _ingestion_time,
    _source_system
from {{ dedup_latest('bronze', ['location_id']) }}
