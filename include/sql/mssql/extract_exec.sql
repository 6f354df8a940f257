{# A stored procedure's first result set: its parameters by name, values as bind parameters.
   `parameters` pairs each parameter's name (checked as an identifier by the definition) with
   the bind name of its value. #}
EXEC {% if schema %}{{ ident(schema) }}.{% endif %}{{ ident(name) }}{% for parameter, arg in parameters %} @{{ parameter }} = {{ bind(arg) }}{{ "," if not loop.last }}{% endfor %}
