{# The database's change tracking version now: the upper bound a cdc run fixes at its start
   (NULL when change tracking is off in the database). #}
SELECT CHANGE_TRACKING_CURRENT_VERSION() AS current_version
