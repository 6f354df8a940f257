{# A run's rows, replaced when its summary runs again (a cleared task). #}
DELETE FROM {{ ident(schema) }}.{{ ident(table) }}
WHERE dag_id = {{ bind('dag_id') }} AND run_id = {{ bind('run_id') }}
