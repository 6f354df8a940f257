{# The text pgoutput prints for each value follows these settings, for this transaction: UTC
   instants in ISO form, bytea as hex, floats exact, intervals in ISO 8601 and money in the C locale
   (postgres_text.SESSION_SETTINGS). An advisory lock serialises the source's reads
   of its slot (a slot serves one session at a time); it ends with the transaction. One statement:
   psycopg 3 prepares statements that have parameters, and a prepared statement holds one. #}
SELECT set_config('TimeZone', 'UTC', true),
       set_config('DateStyle', 'ISO, YMD', true),
       set_config('IntervalStyle', 'iso_8601', true),
       set_config('lc_monetary', 'C', true),
       set_config('bytea_output', 'hex', true),
       set_config('extra_float_digits', '3', true),
       pg_advisory_xact_lock(hashtext('tributary_cdc_slot:' || {{ bind("slot") }}))::text
