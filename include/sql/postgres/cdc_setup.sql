{# Run once by a user with the rights to (CREATE on the database, ownership of the tables,
   REPLICATION): the setup of change capture for a source. Idempotent: what exists is kept. #}
-- 1. postgresql.conf (needs a restart): wal_level = logical; and cap what a forgotten slot may
--    hold back: max_slot_wal_keep_size = '50GB' (the slot is invalidated past it, never the disk full)
-- 2. the publication of the source's cdc tables
DO $tributary$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {{ literal(publication) }}) THEN
        CREATE PUBLICATION {{ ident(publication) }};
    END IF;
END
$tributary$;
{% for schema, table in tables %}
DO $tributary$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = {{ literal(publication) }}
                   AND schemaname = {{ literal(schema) }} AND tablename = {{ literal(table) }}) THEN
        ALTER PUBLICATION {{ ident(publication) }} ADD TABLE {{ ident(schema) }}.{{ ident(table) }};
    END IF;
END
$tributary$;
{% endfor %}
{% for schema, table in full_identity %}
-- no primary key: a delete or update must carry the whole row
ALTER TABLE {{ ident(schema) }}.{{ ident(table) }} REPLICA IDENTITY FULL;
{% endfor %}
-- 3. the slot (after the publication): its position is where the first snapshot starts
SELECT pg_create_logical_replication_slot({{ literal(slot) }}, 'pgoutput')
WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = {{ literal(slot) }});
