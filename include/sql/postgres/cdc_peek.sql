{# The changes of the slot's committed transactions up to upto, from its confirmed position:
   PEEK, never GET, so the slot stays where it is until cdc_advance. #}
SELECT data
FROM pg_logical_slot_peek_binary_changes(
    {{ bind("slot") }}, {{ bind("upto") }}::pg_lsn, NULL,
    'proto_version', '1', 'publication_names', {{ bind("publication") }}
)
