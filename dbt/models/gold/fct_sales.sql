-- One row per receipt, with its shop, region, payment type label, currency and EUR amounts:
-- the base of the other marts.
with sales as (
    select * from {{ ref('stg_pos__sales') }}
),

locations as (
    select * from {{ ref('stg_pos__locations') }}
),

sale_currency as (
    -- a receipt is paid in its shop's currency; a split payment has one currency too
    select sale_id, min(currency_code) as currency_code
    from {{ ref('stg_pos__payments') }}
    group by sale_id
)

select
    s.sale_id,
    s.sales_no,
    s.business_date,
    s.sold_at,
    s.location_id,
    l.location_name,
    l.country_code,
    coalesce(r.region, 'Unknown')                                   as region,
    s.customer_id,
    s.payment_type,
    coalesce(pt.payment_type_label, 'Unknown (' || s.payment_type || ')') as payment_type_label,
    s.is_void,
    c.currency_code,
    s.total_amount,
    s.tax_amount,
    s.total_amount - s.tax_amount                                   as net_amount,
    cast(round(s.total_amount * fx.eur_per_unit, 2) as decimal(18, 2)) as total_amount_eur,
    cast(round((s.total_amount - s.tax_amount) * fx.eur_per_unit, 2) as decimal(18, 2)) as net_amount_eur
from sales as s
left join locations as l on l.location_id = s.location_id
left join {{ ref('location_regions') }} as r on r.country_code = l.country_code
left join {{ ref('payment_types') }} as pt on pt.payment_type = s.payment_type
left join sale_currency as c on c.sale_id = s.sale_id
left join {{ ref('currency_rates') }} as fx on fx.currency_code = c.currency_code
