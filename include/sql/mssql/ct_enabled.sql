{# Is change tracking on for this session's database, and for the table? 1 or 0 each, with the
   database's name for the statements a user must run. The catalog views show only what the user
   has some permission on, so the functions that answer NULL where tracking is off count too. #}
SELECT CASE WHEN EXISTS (SELECT 1 FROM sys.change_tracking_databases WHERE database_id = DB_ID())
              OR CHANGE_TRACKING_CURRENT_VERSION() IS NOT NULL
            THEN 1 ELSE 0 END AS database_enabled,
       CASE WHEN EXISTS (SELECT 1 FROM sys.change_tracking_tables
                         WHERE object_id = OBJECT_ID(QUOTENAME({{ bind('schema') }}) + N'.'
                                                     + QUOTENAME({{ bind('table') }})))
              OR CHANGE_TRACKING_MIN_VALID_VERSION(
                     OBJECT_ID(QUOTENAME({{ bind('schema') }}) + N'.' + QUOTENAME({{ bind('table') }}))
                 ) IS NOT NULL
            THEN 1 ELSE 0 END AS table_enabled,
       DB_NAME() AS database_name
