{# Window bounds are UTC instants: compare dates and timestamps against them in UTC. Intervals and
   money are fetched as text and parsed as the lake's reader parses them (postgres_text): in
   ISO 8601 and in the C locale. #}
SELECT set_config('TimeZone', 'UTC', false),
       set_config('IntervalStyle', 'iso_8601', false),
       set_config('lc_monetary', 'C', false)
