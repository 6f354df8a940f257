{# The postgres scanner reads through exactly one PostgreSQL session: the extract holds one slot
   of the source pool. One thread means one scan task, and without ctid ranges a table (or a
   window, whose filter is pushed down to where it can use an index) is one COPY of one query. #}
SET threads = 1;
SET pg_use_ctid_scan = false;
