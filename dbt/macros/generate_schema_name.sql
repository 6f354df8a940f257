{#- A model's layer is its schema, as named: silver, gold, config (dbt's default would prefix the
    target schema, giving main_silver). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
