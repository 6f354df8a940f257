-- The benchmark's point-of-sale table: :rows rows (psql -v rows=N -f gen_sales.sql).
-- Deterministic (setseed before the one, non-parallel INSERT), so every run and every machine
-- extracts the same data. sales_date increases with id over the year 2025, as in a real POS
-- table, so a month is a contiguous range of the sales_date index.
\set ON_ERROR_STOP on
\if :{?rows}
\else
\set rows 5000000
\endif
SET TIME ZONE 'UTC';
DROP TABLE IF EXISTS sales;
CREATE TABLE sales (
    id            bigint        NOT NULL PRIMARY KEY,
    sales_no      varchar(20)   NOT NULL,
    location_id   integer       NOT NULL,
    customer_id   bigint,                       -- walk-in sales have no customer: ~30% NULL
    sales_date    timestamp     NOT NULL,
    business_date date          NOT NULL,       -- the trading day: a sale before 04:00 counts for the day before
    total_amount  numeric(15,2) NOT NULL,
    tax_amount    numeric(15,2) NOT NULL,
    payment_type  varchar(10)   NOT NULL,
    is_void       boolean       NOT NULL,
    remark        text,                         -- ~60% NULL; ~10% non-ASCII (accents, CJK, emoji)
    updated_at    timestamptz   NOT NULL
);
SELECT setseed(0.2025);
INSERT INTO sales
SELECT n,
       format('S%s-%s', lpad((n % 499)::text, 3, '0'), lpad(n::text, 12, '0')),
       1 + floor(u[1] * 400)::int,
       CASE WHEN u[2] >= 0.30 THEN 200000 + floor(u[3] * 800000)::bigint END,
       at,
       (at - interval '4 hours')::date,
       amount,
       round(amount * 0.0909, 2),
       (ARRAY['CASH', 'CARD', 'QR', 'VOUCHER', 'EWALLET'])[1 + floor(u[4] * 5)::int],
       u[5] < 0.02,
       CASE
           WHEN u[6] < 0.60 THEN NULL
           WHEN u[6] < 0.90 THEN 'ref ' || left(md5(n::text), 3 + (n % 14)::int)
           ELSE (ARRAY['khách quen ☕', 'crème brûlée', '领收书不要', 'Quittung ✓ bitte', '🎉 party', 'ёлка'])[1 + (n % 6)::int]
                || ' #' || (n % 97)
       END,
       at + u[7] * interval '36 hours'
FROM (
    SELECT n,
           ARRAY[random(), random(), random(), random(), random(), random(), random()] AS u,
           timestamp '2025-01-01' + ((n - 1 + random()) / :rows) * interval '365 days' AS at,
           round((0.5 + random() * 600)::numeric, 2) AS amount
    FROM generate_series(1, :rows) AS n
) AS g;
CREATE INDEX sales_sales_date_idx ON sales (sales_date);
VACUUM (FREEZE, ANALYZE) sales;
