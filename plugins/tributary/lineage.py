"""OpenLineage for Tributary's tasks: the datasets a batch read and wrote, from its manifest.

The operators' ``get_openlineage_facets_on_complete`` call :func:`batch_lineage`; Airflow's
OpenLineage provider calls those methods after a task succeeds, and only when a transport is
configured (``[openlineage] transport``): otherwise the provider's listener is not loaded and none
of this runs. The OpenLineage classes are imported inside the functions that build facets, so a
task's start-up never pays for them.

Names follow OpenLineage's naming conventions (``openlineage.client.naming``):

- a source table: ``postgres://host:port`` + ``database.schema.table``, ``mssql://host:port`` +
  ``database.schema.table`` (the scheme Airflow's ``MsSqlHook`` and dbt's OpenLineage processor
  give SQL Server), and a SQLite file as ``sqlite://<absolute path>`` + ``main.table`` (the spec
  names no SQLite scheme; this is the form dbt's processor gives a DuckDB file);
- a lake partition: ``s3://bucket`` or ``gs://bucket`` + the key of the partition's folder, or
  ``file`` + its absolute path: ``<lake>/<source>/<table>/<key>=<value>`` as the lake holds it;
- a file table's landing folder: the same, for the fixed folder of its glob.

Each partition carries a ``symlinks`` facet with the name dbt's OpenLineage processor (which
Cosmos runs after each dbt task) gives the bronze source ``source('<source>', '<table>')`` of the
dbt project: ``duckdb://<warehouse file>`` + ``<warehouse>.<source>.<table>``. That is what joins
Tributary's graph (source table -> partition) to dbt's (bronze source -> silver -> gold).

The identifiers are plain functions of their inputs (no Airflow) so that they are tested on their
own; :func:`source_table_id` and :func:`bronze_symlink` read Airflow connections.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tributary.audit import AUDIT_NAMES
from tributary.hooks.warehouse import WAREHOUSE_CONN_ID, warehouse_path
from tributary.lake import path_segment
from tributary.manifest import Manifest, SchemaField

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage

# What a partition's storage facet says: Tributary's commit protocol over Parquet files
STORAGE_LAYER = "tributary"
FILE_FORMAT = "parquet"
# A table's schema when its config names none, per dialect (as the readers default it)
DEFAULT_SCHEMA = {"postgres": "public", "mssql": "dbo", "sqlite": "main"}
DEFAULT_PORT = {"postgres": 5432, "mssql": 1433}


@dataclass(frozen=True)
class DatasetId:
    """An OpenLineage dataset's identity: the namespace (its data source) and its name."""

    namespace: str
    name: str


def enabled() -> bool:
    """Whether Airflow's OpenLineage provider is installed and has a transport, so that it calls
    the operators' ``get_openlineage_facets_on_complete``."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


# --- names ------------------------------------------------------------------------------------


def location_id(url: str, *relative: str) -> DatasetId:
    """The dataset of a folder of a lake or landing location (file://, s3://, gs://), and
    ``relative`` folders under it: ``s3://bucket`` + ``prefix/pos/sales/month=2025-01``, or
    ``file`` + ``/abs/lake/pos/sales/month=2025-01``."""
    parts = urlsplit(url)
    scheme = parts.scheme or "file"
    if scheme == "file":
        root = unquote(parts.path) or "/"
        return DatasetId("file", posixpath.join(root, *relative))
    key = "/".join(p for p in (parts.path.strip("/"), *relative) if p)
    return DatasetId(f"{scheme}://{parts.netloc}", key or "/")


def partition_id(lake_url: str, manifest: Manifest) -> DatasetId:
    """The dataset of the partition ``manifest`` describes, in the lake at ``lake_url``."""
    return location_id(
        lake_url, path_segment(manifest.source), path_segment(manifest.table), manifest.partition
    )


def landing_id(landing_url: str, glob: str) -> DatasetId:
    """The dataset a file table reads: the landing folder its glob starts in (``in/*.csv`` ->
    ``<landing>/in``), as OpenLineage names a folder of files."""
    fixed = []
    for segment in glob.split("/")[:-1]:
        if any(c in segment for c in "*?[{"):
            break
        fixed.append(segment)
    return location_id(landing_url, *fixed)


def table_id(
    conn_type: str,
    *,
    host: str | None,
    port: int | None,
    database: str | None,
    schema: str | None,
    table: str,
) -> DatasetId:
    """A source table's dataset, from its connection's fields (``database`` is the Airflow
    connection's ``schema`` field, as the providers' hooks read it)."""
    schema = schema or DEFAULT_SCHEMA.get(conn_type)
    if conn_type == "sqlite":
        path = os.path.abspath(os.path.expanduser((host or "").split("?", 1)[0]))
        return DatasetId(f"sqlite://{path}", ".".join([schema or "main", table]))
    authority = host or "localhost"
    port = port or DEFAULT_PORT.get(conn_type)
    if port:
        authority = f"{authority}:{port}"
    name = ".".join(p for p in (database, schema, table) if p)
    return DatasetId(f"{conn_type}://{authority}", name)


def warehouse_id(source: str, table: str, warehouse: str | os.PathLike[str]) -> DatasetId:
    """The name dbt's OpenLineage processor gives the dbt source ``source(source, table)`` of a
    dbt-duckdb project whose profile's path is ``warehouse``: the namespace ``duckdb://<path>``,
    and ``<database>.<schema>.<table>`` with dbt-duckdb's database (the file's name up to its first
    dot) and the source's schema (its name: the project's sources set no schema)."""
    path = str(warehouse)
    database = os.path.basename(path).lstrip(".").split(".")[0]
    return DatasetId(f"duckdb://{path}", f"{database}.{source}.{table}")


def source_table_id(conn_id: str, table: str, schema: str | None = None) -> DatasetId:
    """The dataset of a source table, read from its Airflow connection."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return table_id(
        conn.conn_type or "",
        host=conn.host,
        port=conn.port,
        database=conn.schema,
        schema=schema,
        table=table,
    )


def bronze_symlink(source: str, table: str, warehouse_conn_id: str = WAREHOUSE_CONN_ID) -> DatasetId:
    """The bronze table as dbt sees it, in the warehouse of ``warehouse_conn_id`` (the default
    warehouse file when the connection is not defined)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        host = BaseHook.get_connection(warehouse_conn_id).host
    except AirflowNotFoundException:  # dbt's profile would then use the default file
        host = None
    return warehouse_id(source, table, warehouse_path(host))


# --- facets -----------------------------------------------------------------------------------


def source_fields(manifest: Manifest, lake_made: Collection[str] = ()) -> list[SchemaField]:
    """The manifest's columns that come from the source: not the audit columns, nor ``lake_made``
    (a change batch's position columns)."""
    return [f for f in manifest.schema_ if f.name not in AUDIT_NAMES and f.name not in lake_made]


def _schema_facet(fields: list[SchemaField]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=f.name, type=f.type) for f in fields]
    )


def _column_lineage(source: DatasetId, fields: list[SchemaField]) -> Any:
    """Each source column is the lake column of the same name, as it is (IDENTITY)."""
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    direct = cl.Transformation(type="DIRECT", subtype="IDENTITY")
    return cl.ColumnLineageDatasetFacet(
        fields={
            f.name: cl.Fields(
                inputFields=[cl.InputField(source.namespace, source.name, f.name, transformations=[direct])],
                transformationType="IDENTITY",
                transformationDescription="copied as it is",
            )
            for f in fields
        }
    )


def input_dataset(source: DatasetId, manifest: Manifest, lake_made: Collection[str] = ()) -> Any:
    """The source a batch read, with the schema of the columns it read."""
    from openlineage.client.event_v2 import InputDataset

    return InputDataset(
        namespace=source.namespace,
        name=source.name,
        facets={"schema": _schema_facet(source_fields(manifest, lake_made))},
    )


def output_dataset(
    target: DatasetId,
    manifest: Manifest,
    *,
    source: DatasetId | None = None,
    symlink: DatasetId | None = None,
    lake_made: Collection[str] = (),
) -> Any:
    """The partition a batch wrote: its schema (audit columns too), the batch id as its version,
    Parquet storage, its rows, bytes and files, the 1:1 column lineage from ``source``, and the
    ``symlink`` naming it as dbt does."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        output_statistics_output_dataset,
        storage_dataset,
        symlinks_dataset,
    )

    facets: dict[str, Any] = {
        "schema": _schema_facet(list(manifest.schema_)),
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=manifest.batch_id),
        "storage": storage_dataset.StorageDatasetFacet(storageLayer=STORAGE_LAYER, fileFormat=FILE_FORMAT),
    }
    if source is not None:
        facets["columnLineage"] = _column_lineage(source, source_fields(manifest, lake_made))
    if symlink is not None:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[symlinks_dataset.Identifier(symlink.namespace, symlink.name, "TABLE")]
        )
    statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=manifest.rows,
        size=sum(f.bytes for f in manifest.files),
        fileCount=len(manifest.files),
    )
    return OutputDataset(
        namespace=target.namespace,
        name=target.name,
        facets=facets,
        outputFacets={"outputStatistics": statistics},
    )


def batch_lineage(
    manifest: Manifest | None,
    *,
    source: DatasetId | None,
    target: DatasetId | None = None,
    symlink: DatasetId | None = None,
    lake_made: Collection[str] = (),
) -> OperatorLineage:
    """What a task reports: ``source`` as its input and, given a ``target``, the partition as its
    output. Nothing when the task wrote no batch (it was skipped)."""
    from airflow.providers.openlineage.extractors.base import OperatorLineage

    if manifest is None:
        return OperatorLineage()
    inputs = [input_dataset(source, manifest, lake_made)] if source is not None else []
    outputs = []
    if target is not None:
        outputs.append(output_dataset(target, manifest, source=source, symlink=symlink, lake_made=lake_made))
    return OperatorLineage(inputs=inputs, outputs=outputs)
