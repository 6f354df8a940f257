{# SQL Server's own description of a statement's first result set (names, types, precision,
   scale, nullability) without running it: the Arrow schema of a query, function or procedure
   extract. `tsql` is the statement with @-parameters; `declarations` declares them. #}
EXEC sp_describe_first_result_set @tsql = {{ bind('tsql') }}, @params = {{ bind('declarations') }}
