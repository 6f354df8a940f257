{#- Reading the bronze lake: exactly the files of the committed batches.

    A partition (<lake>/<source>/<table>/<key>=<value>/) is complete only when its _SUCCESS exists:
    Tributary removes _SUCCESS before it rewrites a partition and writes it last. _SUCCESS names the
    committed batch and its parts ({"batch_id": ..., "parts": [...]}), so the partitions are read
    through their _SUCCESS files (DuckDB's read_text(), through run_query) and only the parts they
    name are read, never <partition>/*.parquet: a stray part of another batch, or the parts of a
    re-run that started after the listing, are not seen (a re-run removes the old parts: the read
    then fails on a missing file, and a retry reads the new batch once it is committed). -#}

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


{#- The files a reader may read of one committed partition: the parts its _SUCCESS names, or,
    for a _SUCCESS written before it named them, the parts of the batch it names. -#}
{% macro tributary_committed_files(success_path, marker) -%}
    {%- set folder = success_path[:-('/_SUCCESS' | length)] -%}
    {%- set body = fromjson(marker or '', {}) -%}
    {%- if body is not mapping -%}{%- set body = {} -%}{%- endif -%}
    {%- if body.get('parts') is not none -%}
        {%- set files = [] -%}
        {%- for part in body['parts'] -%}{%- do files.append(folder ~ '/' ~ part) -%}{%- endfor -%}
        {{ return(files) }}
    {%- elif body.get('batch_id') -%}
        {{ return([folder ~ '/part-' ~ body['batch_id'] ~ '-*.parquet']) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error(
        success_path ~ " names no batch (Tributary writes a JSON object with batch_id and parts): the "
        ~ "partition was not committed by Tributary; re-run its window in the replication DAG") }}
{%- endmacro %}


{#- The committed partitions of a table, sorted by folder (Hive names sort by date), as a list
    of [folder, [files of its committed batch]]. -#}
{% macro committed_partitions(source_name, table_name) -%}
    {%- set table_root = tributary_lake_root(source_name) ~ '/' ~ tributary_segment(source_name) ~ '/'
                         ~ tributary_segment(table_name) -%}
    {%- set pattern = tributary_literal(table_root ~ '/*/_SUCCESS') -%}
    {%- set found = run_query("select count(*) from glob(" ~ pattern ~ ")").columns[0].values()[0] -%}
    {%- set partitions = [] -%}
    {%- if found -%}
        {#- one read: each _SUCCESS with its content, as it is at this moment -#}
        {%- set markers = run_query(
            "select filename, content from read_text(" ~ pattern ~ ") order by filename") -%}
        {%- for row in markers.rows -%}
            {%- do partitions.append([row[0][:-('/_SUCCESS' | length)], tributary_committed_files(row[0], row[1])]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ log("bronze " ~ source_name ~ "." ~ table_name ~ ": " ~ partitions | length ~ " committed partition(s) under "
           ~ table_root, info=False) }}
    {{ return(partitions) }}
{%- endmacro %}


{#- A relation over the bronze table <source>.<table>: the Parquet parts of its committed
    batches (one per partition), by column name (a column added later is NULL in older partitions), with the
    partition key (month, snapshot_date, batch, ...) as a column. A table whose partitions have
    different keys (its data partitions and the deletes=<batch_id> partitions of its tombstones) is
    read per key and the reads are put together by name: DuckDB's hive_partitioning wants one key
    per read, and a row has NULL in the other keys' columns.
    latest_only=true reads the newest committed data partition only (tombstones aside): the current
    snapshot of a table replicated in mode 'full'. -#}
{% macro bronze(source_name, table_name, latest_only=false) -%}
    {%- set lineage = source(source_name, table_name) -%}
    {%- if not execute -%}
        (select 1 as parse_time_placeholder)
    {%- else -%}
        {%- set partitions = committed_partitions(source_name, table_name) -%}
        {%- if partitions | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "bronze " ~ source_name ~ "." ~ table_name ~ " has no committed partition (no */_SUCCESS under "
                ~ tributary_lake_root(source_name) ~ "/" ~ tributary_segment(source_name) ~ "/"
                ~ tributary_segment(table_name)
                ~ "): run the replication DAG replicate_" ~ source_name ~ " first") }}
        {%- endif -%}
        {%- if latest_only -%}
            {%- set data = [] -%}
            {%- for partition in partitions
                    if tributary_partition_key(partition[0]) != 'deletes' -%}{%- do data.append(partition) -%}{%- endfor -%}
            {%- set partitions = (data or partitions)[-1:] -%}
        {%- endif -%}
        {%- set by_key = {} -%}
        {%- for partition in partitions -%}
            {%- do by_key.setdefault(tributary_partition_key(partition[0]), []).extend(partition[1]) -%}
        {%- endfor -%}
        {#- data first, tombstones last: the columns come in the order of the table -#}
        {%- set reads = [] -%}
        {%- for key in (by_key | sort | reject('equalto', 'deletes') | list) + (['deletes'] if 'deletes' in by_key else []) -%}
            {%- set files = [] -%}
            {%- for file in by_key[key] -%}{%- do files.append(tributary_literal(file)) -%}{%- endfor -%}
            {%- do reads.append("read_parquet([\n            " ~ files | join(",\n            ")
                                ~ "\n        ], union_by_name = true, hive_partitioning = true)") -%}
        {%- endfor -%}
        {%- if reads | length == 1 -%}
        {{ reads[0] }}
        {%- else -%}
        (
        select * from {{ reads | join("\n        union all by name\n        select * from ") }}
        )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The Hive key of a partition folder: month of .../month=2025-01. -#}
{% macro tributary_partition_key(folder) -%}
    {{ return(folder.rstrip('/').split('/')[-1].split('=')[0]) }}
{%- endmacro %}


{#- A PostgreSQL interval column of bronze as a DuckDB INTERVAL. Parquet has no exact interval, so
    Tributary writes one as STRUCT(months INTEGER, days INTEGER, nanoseconds BIGINT) (Arrow's
    month_day_nano_interval by its parts; see plugins/tributary/parquet_types.py):
    select {{ tributary_interval('waited') }} as waited from {{ bronze('pos', 'visits') }} -#}
{% macro tributary_interval(column) -%}
    (to_months({{ column }}.months) + to_days({{ column }}.days) + to_microseconds({{ column }}.nanoseconds // 1000))
{%- endmacro %}
