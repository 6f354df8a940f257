INSERT INTO {{ ident(schema) }}.{{ ident(table) }}
    ({% for column in columns %}{{ ident(column) }}{{ ", " if not loop.last }}{% endfor %})
VALUES ({% for column in columns %}{{ bind(column) }}{{ ", " if not loop.last }}{% endfor %})
