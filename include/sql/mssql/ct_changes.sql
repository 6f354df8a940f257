{# The net change of each key since version `since` (exclusive) up to `upto` (inclusive), in
   version order. `columns` are the columns to read in table order, `keys` the primary key.

   Change tracking records THAT a key changed, not the values: a key's row says its last
   operation and version since `since` (an insert then updates reads as one insert, an update then
   a delete as one delete), and its values come from the table as it is now, through the LEFT
   JOIN. A delete joins nothing (the ON clause leaves it out), so it carries the key from
   CHANGETABLE and NULL elsewhere. `row_found` is 0 when an insert or update found no row: the
   key was deleted after CHANGETABLE was read (a read outside a snapshot transaction), which the
   reader writes as a delete; the delete itself arrives with its own, later version.

   A key whose last change is after `upto` is left to the next run, which reads it with that
   change. The commit time is not read: sys.dm_tran_commit_table needs VIEW SERVER STATE and
   keeps a server-local smalldatetime, so _commit_time is NULL. `since` must be a literal bigint
   (CHANGETABLE refuses an expression), which is what pymssql writes for a Python int. #}
SELECT {% for column in columns %}{{ "ct." if column in keys else "t." }}{{ ident(column) }}{{ ", " if not loop.last else "," }}{% endfor %}

       ct.SYS_CHANGE_OPERATION AS change_operation,
       ct.SYS_CHANGE_VERSION AS change_version,
       CASE WHEN t.{{ ident(keys[0]) }} IS NULL THEN 0 ELSE 1 END AS row_found
FROM CHANGETABLE(CHANGES {{ ident(schema) }}.{{ ident(table) }}, {{ bind('since') }}) AS ct
LEFT JOIN {{ ident(schema) }}.{{ ident(table) }} AS t
  ON {% for key in keys %}t.{{ ident(key) }} = ct.{{ ident(key) }} AND {% endfor %}ct.SYS_CHANGE_OPERATION <> 'D'
WHERE ct.SYS_CHANGE_VERSION <= {{ bind('upto') }}
ORDER BY ct.SYS_CHANGE_VERSION
OPTION (MAXDOP 1)
