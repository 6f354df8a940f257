-- One row per payment; a split payment is several rows of one receipt.
with bronze as (
    select * from {{ bronze('pos', 'payments') }}
)

select
    cast(payment_id as bigint)          as payment_id,
    cast(sales_id as bigint)            as sale_id,
    cast(paid_at as timestamp)          as paid_at,
    upper(trim(method))                 as payment_method,
    cast(amount as decimal(15, 2))      as amount,
    cast(card_last4 as varchar)         as card_last4,
    upper(trim(currency))               as currency_code,
    _batch_id,
    _ingestion_time,
    _source_system,
    month                               as _partition
from {{ dedup_latest('bronze', ['payment_id']) }}
