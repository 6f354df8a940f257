{# Is this session's database read-only? READ_ONLY for a read-scale-out replica (Azure SQL's
   documented check for ApplicationIntent=ReadOnly sessions), a log-shipping standby restored
   WITH STANDBY, a database set READ_ONLY; READ_WRITE on a primary. #}
SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS nvarchar(60)) AS updateability,
       DB_NAME() AS database_name
