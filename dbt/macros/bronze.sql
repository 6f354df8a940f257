{#- Reading the bronze lake: committed partitions only.

    A partition (<lake>/<source>/<table>/<key>=<value>/) is complete only when its _SUCCESS exists:
    Tributary removes _SUCCESS before it rewrites a partition and writes it last. So at run time
    the partitions are listed by their _SUCCESS files (DuckDB's glob(), through run_query) and
    exactly those partitions' Parquet files are read; a partition being written, or left behind
    by a crash, is not seen. -#}

{% macro tributary_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


{#- The lake root of a source: var tributary_lakes[source] (the Airflow glue passes the lake of
    include/pipelines/<source>.yaml), else $TRIBUTARY_LAKE_URL. file:///abs/path, s3://bucket/prefix
    and gs://bucket/prefix work; s3 and gs need DuckDB's httpfs extension and a secret (see the
    README). -#}
{% macro tributary_lake_root(source_name) -%}
    {%- set lakes = var('tributary_lakes', {}) or {} -%}
    {%- set root = lakes.get(source_name) or env_var('TRIBUTARY_LAKE_URL', '') -%}
    {%- if not root -%}
        {{ exceptions.raise_compiler_error(
            "no lake root for source '" ~ source_name ~ "': pass --vars '{tributary_lakes: {" ~ source_name
            ~ ": file:///path/to/lake}}' or set TRIBUTARY_LAKE_URL (Airflow passes the lake of include/pipelines/"
            ~ source_name ~ ".yaml)") }}
    {%- endif -%}
    {{- root.rstrip('/') -}}
{%- endmacro %}


{#- A source or table name as its lake path segment, by the rule of tributary.lake.path_segment:
    percent-encoding of / \\ % = * ? [ ] #, control characters and a leading ".", every other
    character (unicode, spaces, quotes) as it is. dbt must find the folders Tributary writes. -#}
{% macro tributary_segment(name) -%}
    {%- set special = {'/': '%2F', '\\': '%5C', '%': '%25', '=': '%3D', '*': '%2A', '?': '%3F',
                       '[': '%5B', ']': '%5D', '#': '%23', '\x7f': '%7F'} -%}
    {%- set controls = '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f' -%}
    {%- set out = [] -%}
    {%- for char in name -%}
        {%- if char in special -%}{%- do out.append(special[char]) -%}
        {%- elif char in controls -%}{%- do out.append('%%%02X' | format(controls.index(char))) -%}
        {%- elif loop.first and char == '.' -%}{%- do out.append('%2E') -%}
        {%- else -%}{%- do out.append(char) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- out | join('') -}}
{%- endmacro %}


{#- The committed partition folders of a table, sorted (Hive names sort by date), as a list. -#}
{% macro committed_partitions(source_name, table_name) -%}
    {%- set table_root = tributary_lake_root(source_name) ~ '/' ~ tributary_segment(source_name) ~ '/'
                         ~ tributary_segment(table_name) -%}
    {%- set listing = run_query(
        "select file from glob(" ~ tributary_literal(table_root ~ '/*/_SUCCESS') ~ ") order by file") -%}
    {%- set folders = [] -%}
    {%- for file in listing.columns[0].values() -%}
        {%- do folders.append(file[:-('/_SUCCESS' | length)]) -%}
    {%- endfor -%}
    {{ log("bronze " ~ source_name ~ "." ~ table_name ~ ": " ~ folders | length ~ " committed partition(s) under "
           ~ table_root, info=False) }}
    {{ return(folders) }}
{%- endmacro %}


{#- A relation over the bronze table <source>.<table>: the Parquet files of its committed
    partitions, by column name (a column added later is NULL in older partitions), with the
    partition key (month, snapshot_date, batch, ...) as a column.
    latest_only=true reads the newest committed partition only: the current snapshot of a table
    replicated in mode 'full'. -#}
{% macro bronze(source_name, table_name, latest_only=false) -%}
    {%- set lineage = source(source_name, table_name) -%}
    {%- if not execute -%}
        (select 1 as parse_time_placeholder)
    {%- else -%}
        {%- set folders = committed_partitions(source_name, table_name) -%}
        {%- if folders | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "bronze " ~ source_name ~ "." ~ table_name ~ " has no committed partition (no */_SUCCESS under "
                ~ tributary_lake_root(source_name) ~ "/" ~ tributary_segment(source_name) ~ "/"
                ~ tributary_segment(table_name)
                ~ "): run the replication DAG replicate_" ~ source_name ~ " first") }}
        {%- endif -%}
        {%- if latest_only -%}{%- set folders = folders[-1:] -%}{%- endif -%}
        read_parquet([
            {%- for folder in folders %}
            {{ tributary_literal(folder ~ '/*.parquet') }}{{ "," if not loop.last }}
            {%- endfor %}
        ], union_by_name = true, hive_partitioning = true)
    {%- endif -%}
{%- endmacro %}
