{# Whether the publication exists, and whether it publishes the table (FOR ALL TABLES included). #}
SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {{ bind("publication") }}),
       EXISTS (
           SELECT 1 FROM pg_publication_tables
           WHERE pubname = {{ bind("publication") }}
             AND schemaname = {{ bind("schema") }}
             AND tablename = {{ bind("table") }}
       )
