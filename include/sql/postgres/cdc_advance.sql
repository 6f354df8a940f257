SELECT pg_replication_slot_advance({{ bind("slot") }}, {{ bind("lsn") }}::pg_lsn)::text
