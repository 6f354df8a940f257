-- The 100 loyalty customers with the highest lifetime value (EUR), with their tier.
select customer_id,
       first_name,
       last_name,
       loyalty_tier,
       receipts,
       lifetime_value_eur,
       average_receipt_eur,
       last_purchase_at
from gold.customer_lifetime_value
where receipts > 0
order by lifetime_value_eur desc, customer_id
limit 100
