{{ config(severity='error', tags=['gold']) }}
-- The daily mart adds up to the receipts it was built from, per day and location.
with receipts as (
    select business_date, location_id, sum(total_amount) as gross_amount, count(*) as receipts
    from {{ ref('fct_sales') }}
    where not is_void
    group by all
),
daily as (
    select business_date, location_id, sum(gross_amount) as gross_amount, sum(receipts) as receipts
    from {{ ref('fct_daily_sales') }}
    group by all
)
select *
from receipts as r
full outer join daily as d using (business_date, location_id)
where r.gross_amount is distinct from d.gross_amount or r.receipts is distinct from d.receipts
