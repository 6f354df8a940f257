{# The table's CDC capture instances (two while a schema change is being rolled over), oldest
   first, with the lowest LSN each still holds. #}
SELECT ct.capture_instance, sys.fn_cdc_get_min_lsn(ct.capture_instance) AS min_lsn
FROM cdc.change_tables AS ct
WHERE ct.source_object_id = OBJECT_ID(QUOTENAME({{ bind('schema') }}) + N'.' + QUOTENAME({{ bind('table') }}))
ORDER BY ct.create_date, ct.capture_instance
