{# Every change a capture instance recorded from `from_lsn` to `to_lsn` (both inclusive, binary(10)),
   in commit order. N'all' returns the after image of an update (operation 4) and not its before
   image (3); 1 is a delete, carrying the deleted row's values, 2 an insert. `function` is the
   instance's own function, cdc.fn_cdc_get_all_changes_<capture instance>, whose name the reader
   has checked to be letters, digits and underscores.

   __$start_lsn is the commit's LSN, __$seqval the change's order in it. The commit time comes
   from cdc.lsn_time_mapping, in the server's local time: it is moved to UTC by the server's
   offset now (DATEPART TZOFFSET), which is exact on a server kept in UTC and off by the DST
   difference for commits on the other side of a clock change (docs/cdc-mssql.md). It stays a
   datetime, which pymssql returns as one under every TDS version (a datetime2 comes back as text
   before TDS 7.3). #}
SELECT {% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last else "," }}{% endfor %}

       __$operation AS change_operation,
       __$start_lsn AS change_lsn,
       __$seqval AS change_seq,
       DATEADD(minute, -DATEPART(TZOFFSET, SYSDATETIMEOFFSET()),
               sys.fn_cdc_map_lsn_to_time(__$start_lsn)) AS commit_time
FROM cdc.{{ ident(function) }}({{ bind('from_lsn') }}, {{ bind('to_lsn') }}, N'all')
ORDER BY __$start_lsn, __$seqval
OPTION (MAXDOP 1)
