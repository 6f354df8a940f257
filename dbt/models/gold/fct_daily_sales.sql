-- Daily sales by shop and payment type (voided receipts counted apart, not in the amounts).
select
    business_date,
    location_id,
    payment_type,
    any_value(location_name)                                  as location_name,
    any_value(region)                                         as region,
    any_value(country_code)                                   as country_code,
    any_value(payment_type_label)                             as payment_type_label,
    any_value(currency_code)                                  as currency_code,
    count(*) filter (where not is_void)                       as receipts,
    count(*) filter (where is_void)                           as voided_receipts,
    coalesce(sum(total_amount) filter (where not is_void), 0) as gross_amount,
    coalesce(sum(tax_amount) filter (where not is_void), 0)   as tax_amount,
    coalesce(sum(net_amount) filter (where not is_void), 0)   as net_amount,
    sum(total_amount_eur) filter (where not is_void)          as gross_amount_eur,
    sum(net_amount_eur) filter (where not is_void)            as net_amount_eur
from {{ ref('fct_sales') }}
group by business_date, location_id, payment_type
