{# Not run by Tributary: the statements a user runs to turn change tracking on for a table, which
   the error of a table without it shows. Idempotent in effect: run the ones that apply. #}
{% if not database_enabled %}
ALTER DATABASE {{ ident(database) }} SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON);
ALTER DATABASE {{ ident(database) }} SET ALLOW_SNAPSHOT_ISOLATION ON;
{% endif %}
ALTER TABLE {{ ident(schema) }}.{{ ident(table) }} ENABLE CHANGE_TRACKING;
