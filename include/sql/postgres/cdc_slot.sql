{# The source's replication slot: its plugin, database, health (wal_status 'lost' or, from
   PostgreSQL 16, conflicting: invalidated), its confirmed position, the WAL it holds back, and the
   server's flushed position: the upper bound of a run is the flushed one, not
   pg_current_wal_lsn() (written, maybe not flushed): decoding reads flushed WAL only, and a bound
   beyond it would let the slot advance past commits (synchronous_commit = off) the run never
   read. to_jsonb reads `conflicting` where the version has it. #}
SELECT s.plugin,
       s.database,
       current_database(),
       s.wal_status,
       to_jsonb(s) ->> 'conflicting',
       s.confirmed_flush_lsn::text,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
       pg_current_wal_flush_lsn()::text
FROM pg_replication_slots AS s
WHERE s.slot_name = {{ bind("slot") }}
