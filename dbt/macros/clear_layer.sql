{#- Drop the tables and views of every model tagged with a layer (silver, gold): what the setup
    DAG clears before it rebuilds. The list comes from the project's graph, never from a list
    kept by hand, so a new model is cleared with its layer.

        dbt run-operation clear_layer --args '{layer: gold}'
-#}
{% macro clear_layer(layer) %}
    {%- set dropped = [] -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and layer in node.tags and node.config.materialized != 'ephemeral' -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is not none -%}
            {%- do adapter.drop_relation(relation) -%}
            {%- do dropped.append(relation.render()) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do adapter.commit() if dropped -%}
    {{ log("clear_layer " ~ layer ~ ": dropped " ~ dropped | length ~ " relation(s)"
           ~ (": " ~ dropped | join(", ") if dropped else ""), info=True) }}
    {{ return(dropped) }}
{% endmacro %}
