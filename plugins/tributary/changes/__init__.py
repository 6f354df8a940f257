"""Deletes and changes reach the lake (issue #16): change capture from PostgreSQL's log
(``mode: cdc``), SQL Server change tracking and CDC, and key-diff deletes for any source
(``deletes: detect_by_keys``). A feature beside ``replication``: it shares the core (readers,
lake, batches), never ``replication``'s modules.

The bronze shape of a change row is in :mod:`.shape`.
"""
