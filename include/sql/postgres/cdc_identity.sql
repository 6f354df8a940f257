{# The table's replica identity (d default, n nothing, f full, i index), whether it has a primary
   key, and the columns a delete's change row carries besides NULLs: the primary key's (default),
   the replica identity index's (index); under full, every column (not listed). #}
SELECT c.relreplident::text,
       EXISTS (SELECT 1 FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary),
       ARRAY(
           SELECT a.attname::text
           FROM pg_index AS i
           JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
           WHERE i.indrelid = c.oid
             AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
           ORDER BY a.attname
       )
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = {{ bind("schema") }} AND c.relname = {{ bind("table") }}
