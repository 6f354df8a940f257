{# The table's replica identity (d default, n nothing, f full, i index) and whether it has a
   primary key: what a delete's change row can carry. #}
SELECT c.relreplident::text,
       EXISTS (SELECT 1 FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = {{ bind("schema") }} AND c.relname = {{ bind("table") }}
