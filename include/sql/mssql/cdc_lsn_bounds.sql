{# The capture instance's lowest LSN still held (cleanup moves it on) and the database's highest
   captured LSN, the upper bound a cdc run fixes at its start. Both binary(10); 0x00... or NULL
   when the instance is unknown or nothing was captured yet. #}
SELECT sys.fn_cdc_get_min_lsn({{ bind('instance') }}) AS min_lsn, sys.fn_cdc_get_max_lsn() AS max_lsn
