{% from "common/extract_source.sql" import extract_select with context %}
{# The rows of one extract (common/extract_source.sql); window bounds are bind values. #}
{{ extract_select() }}
