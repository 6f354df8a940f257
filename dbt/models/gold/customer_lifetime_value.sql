-- Lifetime value of each loyalty customer, in EUR, as of the last business day in the data.
with purchases as (
    select *
    from {{ ref('fct_sales') }}
    where customer_id is not null and not is_void
),

as_of as (
    select max(business_date) as as_of_date from {{ ref('fct_sales') }}
),

per_customer as (
    select
        customer_id,
        min(sold_at)                                  as first_purchase_at,
        max(sold_at)                                  as last_purchase_at,
        count(*)                                      as receipts,
        count(distinct date_trunc('month', business_date)) as active_months,
        count(distinct location_id)                   as shops_visited,
        sum(total_amount_eur)                         as lifetime_value_eur
    from purchases
    group by customer_id
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    c.loyalty_tier,
    c.created_at                                      as customer_since,
    p.first_purchase_at,
    p.last_purchase_at,
    coalesce(p.receipts, 0)                           as receipts,
    coalesce(p.active_months, 0)                      as active_months,
    coalesce(p.shops_visited, 0)                      as shops_visited,
    coalesce(p.lifetime_value_eur, 0)                 as lifetime_value_eur,
    cast(round(p.lifetime_value_eur / nullif(p.receipts, 0), 2) as decimal(18, 2)) as average_receipt_eur,
    a.as_of_date - cast(p.last_purchase_at as date)   as days_since_last_purchase
from {{ ref('stg_pos__customers') }} as c
left join per_customer as p using (customer_id)
cross join as_of as a
