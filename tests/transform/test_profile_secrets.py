"""Secrets of the warehouse connection reach dbt as environment variables only: the profile Cosmos
writes holds none and is its owner's alone, and dbt-duckdb still authenticates with them -- a
DuckDB secret of type postgres, its password by env var, logs in to a real PostgreSQL."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.support.pg import PgCluster, remove_cluster, start_cluster
from tributary.readers.postgres_scanner import duckdb_connection
from tributary.transform.profile import PrivateProfileConfig, TributaryDuckDBProfileMapping

PG_PASSWORD = "Dbt-pg-s3cret-Pw"
AZURE_SECRET = "Azure-client-s3cret"
S3_SECRET = "S3-settings-s3cret"
SECRETS = (PG_PASSWORD, AZURE_SECRET, S3_SECRET)


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[PgCluster]:
    hba = "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    cluster = start_cluster(hba=hba, extra_conf="password_encryption = 'scram-sha-256'\n")
    try:
        cluster.psql(f"CREATE ROLE reader LOGIN PASSWORD '{PG_PASSWORD}'")
        cluster.psql(
            "CREATE TABLE sales AS SELECT g AS id FROM generate_series(1, 42) g; "
            "GRANT SELECT ON sales TO reader"
        )
        yield cluster
    finally:
        remove_cluster(cluster)


def warehouse_conn(tmp_path: Path, cluster: PgCluster, *, offline_only: bool = False) -> str:
    """The warehouse connection; ``offline_only`` leaves out what needs an extension DuckDB would
    download (azure; httpfs's S3 settings)."""
    secrets = [
        {
            "type": "postgres",
            "name": "pg_src",
            "host": cluster.host,
            "port": cluster.port,
            "database": "postgres",
            "user": "reader",
            "password": PG_PASSWORD,
        },
        {
            "type": "azure",
            "name": "az",
            "provider": "service_principal",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": AZURE_SECRET,
            "account_name": "a",
        },
    ]
    extra = {"secrets": secrets, "settings": {"s3_secret_access_key": S3_SECRET, "threads": 1}}
    if offline_only:
        extra = {"secrets": secrets[:1], "settings": {"threads": 1}}
    return json.dumps(
        {"conn_type": "duckdb", "host": str(tmp_path / "wh.duckdb"), "extra": json.dumps(extra)}
    )


def test_sensitive_keys_of_secrets_and_settings_go_by_env_var(
    tmp_path, monkeypatch, password_cluster
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRIBUTARY_WAREHOUSE", warehouse_conn(tmp_path, password_cluster))
    mapping = TributaryDuckDBProfileMapping()

    text = mapping.get_profile_file_contents("tributary", "warehouse")
    env = mapping.env_vars

    for secret in SECRETS:
        assert secret not in text
        assert secret in env.values()
    output = yaml.safe_load(text)["tributary"]["outputs"]["warehouse"]
    pg, azure = output["secrets"]
    assert pg["password"] == "{{ env_var('TRIBUTARY_DUCKDB_EXTRA0_PASSWORD') }}"
    assert azure["client_secret"] == "{{ env_var('TRIBUTARY_DUCKDB_EXTRA1_CLIENT_SECRET') }}"
    assert (
        output["settings"]["s3_secret_access_key"]
        == "{{ env_var('TRIBUTARY_DUCKDB_SETTING_S3_SECRET_ACCESS_KEY') }}"
    )
    assert azure["tenant_id"] == "t" and pg["user"] == "reader", "what is not secret stays in the profile"


@pytest.mark.parametrize("cached", [True, False], ids=["profile-cache", "temporary"])
def test_dbt_logs_in_with_the_password_from_the_env_and_the_profile_is_private(
    tmp_path, monkeypatch, password_cluster, cached
) -> None:
    from cosmos import settings
    from dbt.cli.main import dbtRunner

    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cosmos-cache")
    monkeypatch.setattr("cosmos.config.is_profile_cache_enabled", lambda: cached)
    conn = warehouse_conn(tmp_path, password_cluster, offline_only=True)
    monkeypatch.setenv("AIRFLOW_CONN_TRIBUTARY_WAREHOUSE", conn)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    duckdb_connection().close()  # installs the postgres extension from its PyPI package
    attach = [{"path": "", "type": "postgres", "alias": "pg", "secret": "pg_src", "read_only": True}]
    mapping = TributaryDuckDBProfileMapping(profile_args={"extensions": ["postgres"], "attach": attach})
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: secrets_test\nversion: '1.0'\nprofile: tributary\n")
    (project / "models" / "pg_sales.sql").write_text(
        "{{ config(materialized='table') }} select count(*) as n from pg.public.sales"
    )
    config = PrivateProfileConfig(profile_name="tributary", target_name="warehouse", profile_mapping=mapping)

    with config.ensure_profile() as (profile, env):
        text = profile.read_text()
        assert PG_PASSWORD not in text and PG_PASSWORD in env.values()
        assert stat.S_IMODE(profile.stat().st_mode) == 0o600
        assert stat.S_IMODE(profile.parent.stat().st_mode) == 0o700
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        args = ["--project-dir", str(project), "--profiles-dir", str(profile.parent)]
        result = dbtRunner().invoke(["run", *args])

    assert result.success, result.exception or [r.message for r in result.result]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select n from main.pg_sales").fetchone() == (42,)
