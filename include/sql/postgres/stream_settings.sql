{# Before a server-side cursor is declared: plan it for reading every row, not the first 10%
   (the default), so the planner does not pick a fast-start plan for a full read. Columns read as
   text are printed as postgres_text parses them (postgres_text.SESSION_SETTINGS): intervals in
   ISO 8601, money in the C locale (hundredths, whatever the server's locale). For this
   transaction only. #}
SELECT set_config('cursor_tuple_fraction', '1.0', true),
       set_config('IntervalStyle', 'iso_8601', true),
       set_config('lc_monetary', 'C', true)
