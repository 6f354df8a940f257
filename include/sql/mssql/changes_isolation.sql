{# The isolation level of the session's next transactions: SNAPSHOT for a cdc read where the
   database allows it (changes_snapshot_isolation.sql), READ COMMITTED (the default) after. #}
SET TRANSACTION ISOLATION LEVEL {{ "SNAPSHOT" if snapshot else "READ COMMITTED" }}
