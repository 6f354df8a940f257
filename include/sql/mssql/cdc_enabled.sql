{# Is CDC on for this session's database, and does it capture the table? 1 or 0 each. Asked
   before cdc.change_tables is named at all: that schema exists only once CDC is on. #}
SELECT CAST(d.is_cdc_enabled AS int) AS database_enabled,
       COALESCE((SELECT CAST(t.is_tracked_by_cdc AS int) FROM sys.tables AS t
                 WHERE t.object_id = OBJECT_ID(QUOTENAME({{ bind('schema') }}) + N'.'
                                               + QUOTENAME({{ bind('table') }}))), 0) AS table_enabled
FROM sys.databases AS d
WHERE d.database_id = DB_ID()
