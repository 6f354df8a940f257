{# The text pgoutput prints for each value follows these settings: UTC instants in ISO form,
   bytea as hex, floats exact. An advisory lock serialises the source's reads of its slot (a slot
   serves one session at a time); it ends with the transaction. #}
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL IntervalStyle = 'postgres';
SET LOCAL bytea_output = 'hex';
SET LOCAL extra_float_digits = 3;
SELECT pg_advisory_xact_lock(hashtext('tributary_cdc_slot:' || {{ bind("slot") }}))
