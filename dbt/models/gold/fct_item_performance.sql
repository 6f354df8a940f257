-- Monthly sales of each item: units, receipts, revenue and discounts in EUR (voids excluded).
with lines as (
    select
        date_trunc('month', s.business_date)::date    as sales_month,
        li.item_id,
        li.sale_id,
        li.quantity,
        li.line_amount * fx.eur_per_unit              as line_amount_eur,
        li.discount_amount * fx.eur_per_unit          as discount_eur
    from {{ ref('stg_pos__sales_items') }} as li
    join {{ ref('fct_sales') }} as s on s.sale_id = li.sale_id
    left join {{ ref('currency_rates') }} as fx on fx.currency_code = s.currency_code
    where not s.is_void
)

select
    l.sales_month,
    l.item_id,
    i.sku,
    i.item_name,
    i.category,
    sum(l.quantity)                                           as units_sold,
    count(distinct l.sale_id)                                 as receipts,
    cast(round(sum(l.line_amount_eur), 2) as decimal(18, 2))  as revenue_eur,
    cast(round(sum(l.discount_eur), 2) as decimal(18, 2))     as discount_eur
from lines as l
left join {{ ref('stg_pos__items') }} as i on i.item_id = l.item_id
group by all
