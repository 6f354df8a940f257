{# The rows of one landing file whose primary key an earlier row of the file has, with the row of
   the key's first occurrence. `keys` is the Parquet file of the key `columns`, each row's number
   (`row`, 1-based) and file line (`line`) that the read step wrote aside. The aggregate spills to
   disk beyond the session's memory_limit; the join's build side is only the repeated keys. #}
WITH repeated AS (
  SELECT
{% for column in columns %}
    {{ ident(column) }},
{% endfor %}
    min({{ ident(row) }}) AS first_row
  FROM read_parquet({{ bind('keys') }})
  GROUP BY ALL
  HAVING count(*) > 1
)
SELECT
{% for column in columns %}
  k.{{ ident(column) }},
{% endfor %}
  k.{{ ident(row) }},
  k.{{ ident(line) }},
  r.first_row
FROM read_parquet({{ bind('keys') }}) AS k
JOIN repeated AS r ON
{% for column in columns %}
  k.{{ ident(column) }} IS NOT DISTINCT FROM r.{{ ident(column) }}{{ " AND" if not loop.last }}
{% endfor %}
WHERE k.{{ ident(row) }} > r.first_row
ORDER BY k.{{ ident(row) }}
LIMIT {{ limit | int }}
