{# May this database's sessions read in a SNAPSHOT transaction (ALLOW_SNAPSHOT_ISOLATION ON)?
   Then a cdc read sees the change table, the table's rows and the retention bound as of one
   moment, as Microsoft recommends for change tracking. 1 or 0. #}
SELECT CASE WHEN snapshot_isolation_state = 1 THEN 1 ELSE 0 END AS snapshot_allowed
FROM sys.databases
WHERE database_id = DB_ID()
