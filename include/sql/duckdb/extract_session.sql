{# Window bounds are UTC instants: compare dates and timestamps against them in UTC. #}
SET TimeZone = 'UTC'
