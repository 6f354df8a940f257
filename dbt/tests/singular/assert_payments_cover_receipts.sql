{{ config(severity='warn', tags=['silver']) }}
-- Receipts whose payments do not add up to the receipt total (a till or replication problem to
-- look at; gold still reports the receipt total).
with paid as (
    select sale_id, sum(amount) as paid_amount
    from {{ ref('stg_pos__payments') }}
    group by sale_id
)
select s.sale_id, s.total_amount, coalesce(p.paid_amount, 0) as paid_amount
from {{ ref('stg_pos__sales') }} as s
left join paid as p using (sale_id)
where s.total_amount <> coalesce(p.paid_amount, 0)
