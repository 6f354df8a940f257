"""TLS to PostgreSQL on a real server with ``ssl = on`` and certificates made by ``openssl``: every
libpq setting of the connection's extra reaches both read paths (DuckDB's scanner and psycopg
through the provider's hook), a certificate failure is permanent and names the setting to fix, a
client-certificate login works, and two sources read at once never share settings.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.failures.test_airflow_failures import JANUARY, replication_dag, task_instances
from tests.support.pg import Certificates, PgCluster, make_certificates, remove_cluster, start_cluster
from tributary.config import TableConfig
from tributary.dialects.columns import schema_of
from tributary.failures import AuthenticationFailed, TlsFailed
from tributary.hooks.sources import open_reader
from tributary.lake import SUCCESS
from tributary.operators._common import fail_fast

APP_PASSWORD = "Tls-app-s3cret-Pw"
OTHER_PASSWORD = "Tls-other-s3cret-Pw"
SSL_PASSWORD = "Tls-key-passphrase-9"
SALES = TableConfig(name="sales", mode="full")
# a time column: DuckDB's scanner cannot read it exactly (24:00:00), so psycopg through the hook does
SPANS = TableConfig(name="spans", mode="full")

# only the tests' own psql may connect without TLS; everyone else over TLS, certuser by certificate
HBA = """\
host all postgres 127.0.0.1/32 trust
hostssl all certuser 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 scram-sha-256
"""


@dataclass
class TlsCluster:
    cluster: PgCluster
    certs: Certificates

    def conn(
        self, *, user: str = "app", password: str | None = APP_PASSWORD, database: str = "shop", **extra: Any
    ) -> str:
        """An Airflow connection (JSON) for ``AIRFLOW_CONN_<ID>``, ``extra`` its libpq settings."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": self.cluster.host,
                "port": self.cluster.port,
                "login": user,
                "password": password,
                "schema": database,
                "extra": json.dumps({k: str(v) for k, v in extra.items()}),
            }
        )

    def verified(self, **extra: Any) -> dict[str, Any]:
        return {"sslmode": "verify-full", "sslrootcert": self.certs.ca, **extra}


@pytest.fixture(scope="session")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    certs = make_certificates(tmp_path_factory.mktemp("tls"), clients=("certuser",))
    cluster = start_cluster(hba=HBA, tls=certs, extra_conf="password_encryption = 'scram-sha-256'\n")
    try:
        cluster.psql(
            f"CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'; "
            f"CREATE ROLE other LOGIN PASSWORD '{OTHER_PASSWORD}'; CREATE ROLE certuser LOGIN"
        )
        cluster.psql("CREATE DATABASE shop")
        cluster.psql("CREATE DATABASE depot")
        cluster.psql(
            "CREATE TABLE sales (id int PRIMARY KEY, sold_at timestamp NOT NULL, amount numeric(10,2));"
            "INSERT INTO sales SELECT g, timestamp '2025-01-01' + g * interval '1 hour', g "
            "FROM generate_series(1, 500) g;"
            "CREATE TABLE spans (id int PRIMARY KEY, span time);"
            "INSERT INTO spans SELECT g, time '00:00' + g * interval '1 minute' "
            "FROM generate_series(1, 20) g;"
            "GRANT SELECT ON sales, spans TO app, certuser;",
            database="shop",
        )
        # another database, another login, other rows: a mix-up between two sources shows
        cluster.psql(
            "CREATE TABLE sales (id int PRIMARY KEY, sold_at timestamp NOT NULL, amount numeric(10,2));"
            "INSERT INTO sales SELECT g, timestamp '2025-01-01' + g * interval '1 hour', -g "
            "FROM generate_series(1, 300) g;"
            "GRANT SELECT ON sales TO other;",
            database="depot",
        )
        yield TlsCluster(cluster, certs)
    finally:
        remove_cluster(cluster)


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_json: str) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json)
    return conn_id


def read_all(conn_id: str, table: TableConfig, *, scanner: bool) -> pa.Table:
    with open_reader(conn_id) as reader:
        columns = reader.describe(table)
        assert reader.scanner_can_read(columns) is scanner
        batches = list(reader.batches(table, columns, None))
    return pa.Table.from_batches(batches, schema=schema_of(columns))


def test_verify_full_with_the_right_ca_replicates_through_both_paths(
    tls_cluster, airflow_db, tmp_path, monkeypatch
) -> None:
    # the server admits app over TLS only: a copy at all proves both paths spoke TLS, and verified
    monkeypatch.setenv("AIRFLOW_CONN_TLS_PG", tls_cluster.conn(**tls_cluster.verified()))
    dag = replication_dag(
        tmp_path,
        monkeypatch,
        name="tls_ok",
        conn_id="tls_pg",
        retries=0,
        tables="  - {name: sales, mode: full}\n  - {name: spans, mode: full}\n",
    )

    run = dag.test(logical_date=JANUARY)

    assert str(run.state) == "success", {k: str(v.state) for k, v in task_instances(run).items()}
    for table, rows in (("sales", 500), ("spans", 20)):
        partition = tmp_path / "lake" / "tls_ok" / table / "snapshot_date=2025-01-01"
        assert (partition / SUCCESS).exists()
        assert pq.read_table(partition).num_rows == rows
    assert not [name for name in os.environ if name.startswith("PG")], "no libpq variable is left"


def test_a_wrong_ca_fails_at_once_naming_sslrootcert(
    tls_cluster, airflow_db, tmp_path, monkeypatch, caplog, capfd
) -> None:
    extra = tls_cluster.verified(sslrootcert=tls_cluster.certs.other_ca)
    monkeypatch.setenv("AIRFLOW_CONN_TLS_WRONG_CA", tls_cluster.conn(**extra))
    dag = replication_dag(
        tmp_path,
        monkeypatch,
        name="tls_wrong_ca",
        conn_id="tls_wrong_ca",
        retries=3,
        tables="  - {name: sales, mode: full}\n",
    )

    caplog.set_level(logging.INFO)
    run = dag.test(logical_date=JANUARY)

    extract = task_instances(run)["extract"]
    assert str(extract.state) == "failed", "not up_for_retry: a retry meets the same certificate"
    assert extract.try_number == 1
    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err])
    assert "TLS connection to the source failed: connection 'tls_wrong_ca'" in logged
    assert "sslrootcert" in logged and "certificate verify failed" in logged
    assert APP_PASSWORD not in logged


def test_no_ca_file_for_verify_full_is_permanent_and_names_sslrootcert(
    tls_cluster, monkeypatch, tmp_path
) -> None:
    # what libpq does without sslrootcert: look for ~/.postgresql/root.crt
    monkeypatch.setenv("HOME", str(tmp_path))
    conn_id = define(monkeypatch, "tls_no_ca", tls_cluster.conn(sslmode="verify-full"))

    with pytest.raises(TlsFailed) as info:
        read_all(conn_id, SALES, scanner=True)

    failure = info.value
    assert failure.permanent
    assert "root.crt" in failure.driver_message and "does not exist" in failure.driver_message
    assert "Set `sslrootcert` in the extra of connection 'tls_no_ca'" in str(failure)
    with pytest.raises(Exception, match="TLS connection to the source failed") as failed, fail_fast():
        raise failure
    assert type(failed.value).__name__ == "AirflowFailException"


def test_the_scanner_gets_the_tls_settings_too(tls_cluster, monkeypatch) -> None:
    """The catalog is read through the hook; the scanner connects on its own with the settings it
    was handed: given another CA than the hook's, it is refused and classified the same."""
    conn_id = define(monkeypatch, "tls_scanner", tls_cluster.conn(**tls_cluster.verified()))

    with pytest.raises(TlsFailed) as info, open_reader(conn_id) as reader:
        columns = reader.describe(SALES)
        assert reader.libpq["sslmode"] == "verify-full"
        reader.libpq["sslrootcert"] = str(tls_cluster.certs.other_ca)
        list(reader.batches(SALES, columns, None))

    assert isinstance(info.value.driver_error, duckdb.Error)
    assert "certificate verify failed" in info.value.driver_message
    assert "sslrootcert" in str(info.value)


def test_a_client_certificate_login_reads_through_both_paths(tls_cluster, monkeypatch) -> None:
    cert, key = tls_cluster.certs.client("certuser")
    extra = tls_cluster.verified(sslcert=cert, sslkey=key)
    conn_id = define(monkeypatch, "tls_cert_login", tls_cluster.conn(user="certuser", password=None, **extra))

    assert read_all(conn_id, SALES, scanner=True).num_rows == 500
    assert read_all(conn_id, SPANS, scanner=False).num_rows == 20


def test_a_client_certificate_with_a_passphrase_needs_sslpassword(tls_cluster, monkeypatch, tmp_path) -> None:
    cert, key = tls_cluster.certs.client("certuser")
    locked = tmp_path / "certuser-locked.key"
    encrypt = ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", f"pass:{SSL_PASSWORD}"]
    subprocess.run([*encrypt, "-out", str(locked)], check=True, capture_output=True)
    locked.chmod(0o600)
    extra = tls_cluster.verified(sslcert=cert, sslkey=locked, sslpassword=SSL_PASSWORD)
    conn_id = define(monkeypatch, "tls_locked_key", tls_cluster.conn(user="certuser", password=None, **extra))

    assert read_all(conn_id, SALES, scanner=True).num_rows == 500
    assert read_all(conn_id, SPANS, scanner=False).num_rows == 20


def test_a_certificate_login_without_a_certificate_names_sslcert(tls_cluster, monkeypatch) -> None:
    conn_id = define(
        monkeypatch, "tls_no_cert", tls_cluster.conn(user="certuser", password=None, **tls_cluster.verified())
    )

    with pytest.raises(AuthenticationFailed) as info:
        read_all(conn_id, SALES, scanner=True)

    assert info.value.permanent
    assert "`sslcert` and `sslkey` in the extra of connection 'tls_no_cert'" in str(info.value)


def test_two_sources_read_at_once_each_with_its_own_settings(tls_cluster, monkeypatch) -> None:
    """Two threads read two databases as two logins through the scanner, side by side: each gets
    its own rows, and no PG* variable is set then or left afterwards."""
    shop = define(monkeypatch, "tls_shop", tls_cluster.conn(**tls_cluster.verified()))
    depot = define(
        monkeypatch,
        "tls_depot",
        tls_cluster.conn(user="other", password=OTHER_PASSWORD, database="depot", **tls_cluster.verified()),
    )
    before = {name: value for name, value in os.environ.items() if name.startswith("PG")}
    both_open = threading.Barrier(2, timeout=30)
    results: dict[str, Any] = {}

    def extract(conn_id: str) -> None:
        try:
            with open_reader(conn_id) as reader:
                columns = reader.describe(SALES)
                both_open.wait()
                seen = []
                for batch in reader.batches(SALES.model_copy(update={"batch_size": 50}), columns, None):
                    seen.append(batch)
                    seen_env = [name for name in os.environ if name.startswith("PG")]
                    assert seen_env == list(before), f"PG* variables set while reading: {seen_env}"
            results[conn_id] = pa.Table.from_batches(seen, schema=schema_of(columns))
        except BaseException as exc:  # noqa: BLE001 - the thread's failure, assertions included, is handed to the main thread
            results[conn_id] = exc

    threads = [threading.Thread(target=extract, args=(conn_id,)) for conn_id in (shop, depot)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for conn_id, result in results.items():
        if isinstance(result, BaseException):
            raise AssertionError(f"{conn_id} failed") from result
    amounts = {
        conn_id: [float(a) for a in table.column("amount").to_pylist()] for conn_id, table in results.items()
    }
    assert len(amounts[shop]) == 500 and min(amounts[shop]) > 0, "shop's own rows, as login app"
    assert len(amounts[depot]) == 300 and max(amounts[depot]) < 0, "depot's own rows, as login other"
    assert {name: value for name, value in os.environ.items() if name.startswith("PG")} == before


def test_tls_settings_of_the_extra_reach_the_scanner(tls_cluster, monkeypatch) -> None:
    cert, key = tls_cluster.certs.client("certuser")
    extra = tls_cluster.verified(sslcert=cert, sslkey=key, sslsni=1, ssl_min_protocol_version="TLSv1.2")
    conn_id = define(monkeypatch, "tls_keys", tls_cluster.conn(**extra, cursor="realdictcursor"))
    with open_reader(conn_id) as reader:
        assert {k: reader.libpq[k] for k in extra} == {k: str(v) for k, v in extra.items()}
        assert "cursor" not in reader.libpq, "the hook's own keys are not libpq's"


def test_the_scanner_secret_holds_the_settings_and_sql_text_no_password() -> None:
    from tributary.readers.postgres_scanner import scanner_attach

    secret, attach = scanner_attach(
        {"host": "h", "port": 5432, "user": "u", "password": "it's-s3cret", "sslrootcert": Path("/ca.crt")},
        "public",
    )
    assert "password 'it''s-s3cret'" in secret, "quoted as a literal"
    assert "s3cret" not in attach and "SECRET 'tributary_source'" in attach
    with pytest.raises(ValueError, match="not libpq connection keywords"):
        scanner_attach({"cursor": "dictcursor"}, "public")


def test_a_host_name_the_certificate_does_not_hold_names_the_host_field(tls_cluster, monkeypatch) -> None:
    # hostaddr reaches the server; verify-full checks its certificate against the Host field
    conn = json.loads(tls_cluster.conn(**tls_cluster.verified(hostaddr="127.0.0.1")))
    conn["host"] = "not-in-the-certificate.example"
    conn_id = define(monkeypatch, "tls_wrong_name", json.dumps(conn))

    with pytest.raises(TlsFailed) as info:
        read_all(conn_id, SALES, scanner=True)

    assert "does not match host name" in info.value.driver_message
    assert "does not name not-in-the-certificate.example, the Host field" in str(info.value)


def test_a_server_without_tls_names_sslmode(pg_cluster, monkeypatch) -> None:
    conn = json.loads(pg_cluster.connection_json())
    conn["extra"] = json.dumps({"sslmode": "require"})
    conn_id = define(monkeypatch, "tls_plain_server", json.dumps(conn))

    with pytest.raises(TlsFailed) as info:
        read_all(conn_id, SALES, scanner=True)

    assert info.value.permanent
    assert "`sslmode` in the extra of connection 'tls_plain_server' requires TLS" in str(info.value)


def test_sslpassword_is_masked_like_a_password() -> None:
    from tributary.failures import mask, secrets_of

    assert SSL_PASSWORD in secrets_of(None, {"sslpassword": SSL_PASSWORD, "sslkey": "/k.pem"})
    assert "/k.pem" not in secrets_of(None, {"sslkey": "/k.pem"}), "a key's path is no secret"
    assert SSL_PASSWORD not in mask(f"sslpassword={SSL_PASSWORD} host=h")
