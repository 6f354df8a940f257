{# Is this session on a read-only replica? A streaming (hot) standby is in recovery until it is
   promoted; a primary, and a logical-replication subscriber, is not. #}
SELECT pg_is_in_recovery() AS in_recovery
