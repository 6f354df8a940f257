{# A table's columns for `tributary discover`: name, position in the primary key (0: none) and
   whether an index leads with it. A rowid alias (INTEGER PRIMARY KEY) is the table's b-tree key,
   indexed without an index of its own. #}
SELECT c.name,
       c.pk AS key_position,
       c.pk > 0 OR EXISTS (
           SELECT 1
           FROM pragma_index_list({{ bind('table') }}, {{ bind('schema') }}) AS il,
                pragma_index_info(il.name, {{ bind('schema') }}) AS ii
           WHERE ii.seqno = 0 AND ii.name = c.name
       ) AS indexed
FROM pragma_table_info({{ bind('table') }}, {{ bind('schema') }}) AS c
ORDER BY c.cid
