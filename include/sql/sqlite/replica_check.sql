{# SQLite has no replicas: a connection that cannot write counts as one. query_only is 1 when
   the connection refuses writes; a file opened with mode=ro is read from the connection's URI. #}
SELECT query_only FROM pragma_query_only()
