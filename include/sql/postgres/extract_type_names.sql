{# The SQL names of the result's column types (the type OIDs of psycopg2's cursor.description),
   as information_schema spells them: the keys of the PostgreSQL type map. #}
SELECT oid, format_type(oid, NULL)
FROM pg_catalog.pg_type
WHERE oid = ANY({{ bind('oids') }})
