{# The availability group role of this session's database: 1 on the primary replica, 0 on a
   secondary, NULL outside an availability group. sys.fn_hadr_is_primary_replica (SQL Server
   2014+) needs VIEW SERVER STATE; without it the answer is NULL rather than an error. #}
SELECT CASE WHEN HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') = 1
            THEN sys.fn_hadr_is_primary_replica(DB_NAME()) END AS is_primary,
       HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS can_view_server_state
