{# The oldest version from which CHANGETABLE(CHANGES ...) still returns every change of the table
   (auto cleanup has removed what came before). A run whose saved version is older has lost
   changes. NULL when the table is not tracked or the user may not see it. The table's name is a
   value here, quoted by the server (QUOTENAME), for OBJECT_ID to parse. #}
SELECT CHANGE_TRACKING_MIN_VALID_VERSION(
           OBJECT_ID(QUOTENAME({{ bind('schema') }}) + N'.' + QUOTENAME({{ bind('table') }}))
       ) AS min_valid_version
