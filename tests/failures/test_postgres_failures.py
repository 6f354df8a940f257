"""Source failures on a real PostgreSQL, through ``open_reader`` as the operators use it: the class,
whether Airflow retries it, what the message tells the user to do, and the driver's error kept.

Each failure is provoked for real: a stopped server, a wrong password against scram-sha-256, a
missing database, a missing table, a role without SELECT, a name that does not resolve, and the
same refusals coming through DuckDB's postgres scanner instead of psycopg2.
"""

from __future__ import annotations

import duckdb
import psycopg
import psycopg2
import pytest

from tests.failures.conftest import APP_PASSWORD
from tests.support.pg import remove_cluster, start_cluster
from tributary.config import TableConfig
from tributary.errors import CatalogError
from tributary.failures import (
    AuthenticationFailed,
    ConnectionUndefined,
    DatabaseMissing,
    ObjectMissing,
    PermissionDenied,
    SourceFailure,
    SourceUnreachable,
    UnknownHost,
)
from tributary.hooks.sources import open_reader
from tributary.operators._common import fail_fast

SALES = TableConfig(name="sales", mode="full")
# the postgres provider connects with psycopg 3 when SQLAlchemy 2 is installed, else psycopg2
PG_ERRORS = (psycopg.Error, psycopg2.Error)


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_json: str) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json)
    return conn_id


def count_sales(conn_id: str, table: TableConfig = SALES) -> int:
    with open_reader(conn_id) as reader:
        return reader.count(table, reader.describe(table), None)


def check_message(exc: SourceFailure, conn_id: str, *fixes: str) -> str:
    message = str(exc)
    assert f"connection {conn_id!r}" in message
    for fix in fixes:
        assert fix in message, f"{fix!r} missing from:\n{message}"
    assert APP_PASSWORD not in message
    return message


def test_a_stopped_server_is_unreachable_and_retried(monkeypatch) -> None:
    cluster = start_cluster()
    conn_id = define(monkeypatch, "pg_stopped", cluster.connection_json())
    cluster.stop()
    try:
        with pytest.raises(SourceUnreachable) as info:
            count_sales(conn_id)
    finally:
        remove_cluster(cluster)

    failure = info.value
    assert not failure.permanent, "a restart or failover ends on its own: Airflow retries"
    check_message(failure, conn_id, "systemctl start postgresql", "pg_ctl", f"{cluster.host}:{cluster.port}")
    assert "Connection refused" in failure.driver_message
    assert isinstance(failure.__cause__, PG_ERRORS)
    assert failure.driver_error is failure.__cause__
    # fail_fast lets a transient failure through as it is, for Airflow's retries
    with pytest.raises(SourceUnreachable), fail_fast():
        raise failure


def test_a_wrong_password_fails_at_once_naming_the_fields(auth_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_wrong_pw", auth_cluster.conn(password="not-the-Password-42"))

    with pytest.raises(AuthenticationFailed) as info:
        count_sales(conn_id)

    failure = info.value
    assert failure.permanent
    message = check_message(failure, conn_id, "Login and Password fields", "pg_hba.conf", "pg_reload_conf()")
    assert "not-the-Password-42" not in message
    assert 'password authentication failed for user "app"' in message, "the driver's words are kept"
    assert isinstance(failure.__cause__, PG_ERRORS)
    # the operators turn a permanent failure into AirflowFailException: no retries
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as failed, fail_fast():
        raise failure
    assert failed.value.__cause__ is failure
    assert str(failed.value) == str(failure)


def test_no_password_at_all_says_to_fill_it_in(auth_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_no_pw", auth_cluster.conn(password=None))

    with pytest.raises(AuthenticationFailed) as info:
        count_sales(conn_id)

    check_message(info.value, conn_id, "has none: fill in its Password field")
    assert "no password supplied" in info.value.driver_message


def test_no_pg_hba_entry_says_which_line_to_add(auth_cluster, monkeypatch) -> None:
    # a database the hba file admits nobody but the superuser to
    auth_cluster.cluster.psql("CREATE DATABASE locked_away")
    hba = auth_cluster.cluster.datadir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(original.replace("host all all", "host shop,postgres all"))
    auth_cluster.cluster.psql("SELECT pg_reload_conf()")
    try:
        conn_id = define(monkeypatch, "pg_hba", auth_cluster.conn(database="locked_away"))
        with pytest.raises(AuthenticationFailed) as info:
            count_sales(conn_id)
    finally:
        hba.write_text(original)
        auth_cluster.cluster.psql("SELECT pg_reload_conf()")

    check_message(
        info.value, conn_id, "host locked_away app <worker address>/32 scram-sha-256", "pg_reload_conf()"
    )


def test_a_missing_database_names_the_schema_field(auth_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_no_db", auth_cluster.conn(database="shopp"))

    with pytest.raises(DatabaseMissing) as info:
        count_sales(conn_id)

    failure = info.value
    assert failure.permanent
    check_message(failure, conn_id, "database shopp does not exist", "Schema field", "createdb")
    assert isinstance(failure.__cause__, PG_ERRORS)


def test_a_missing_table_is_a_permanent_catalog_error(auth_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_no_table", auth_cluster.conn())

    with pytest.raises(CatalogError, match=r"table public\.sale does not exist") as info:
        count_sales(conn_id, TableConfig(name="sale", mode="full"))
    assert info.value.permanent
    assert conn_id in str(info.value) and "check `name`/`schema`" in str(info.value)


def test_a_table_dropped_under_the_reader_is_a_missing_object(auth_cluster, monkeypatch) -> None:
    """Found by the driver instead of the catalog check: the same class, from psycopg2's error."""
    auth_cluster.cluster.psql("CREATE TABLE doomed (id int); GRANT SELECT ON doomed TO app", database="shop")
    conn_id = define(monkeypatch, "pg_dropped", auth_cluster.conn())
    table = TableConfig(name="doomed", mode="full")

    with pytest.raises(ObjectMissing) as info, open_reader(conn_id) as reader:
        columns = reader.describe(table)
        auth_cluster.cluster.psql("DROP TABLE doomed", database="shop")
        reader.count(table, columns, None)

    failure = info.value
    assert failure.permanent and isinstance(failure, CatalogError)
    check_message(failure, conn_id, "doomed", "`name`, `schema` and `columns`")
    assert type(failure.__cause__).__name__ == "UndefinedTable"


def test_a_role_without_select_is_told_what_to_grant(auth_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_writer", auth_cluster.conn(user="writer"))

    with pytest.raises(PermissionDenied) as info:
        count_sales(conn_id)

    failure = info.value
    assert failure.permanent
    check_message(
        failure, conn_id, "login 'writer' may not read sales", 'GRANT SELECT ON <schema>.<table> TO "writer"'
    )
    assert type(failure.__cause__).__name__ == "InsufficientPrivilege"


def test_a_role_without_any_privilege_cannot_see_the_table(auth_cluster, monkeypatch) -> None:
    """information_schema lists only what a role has some privilege on: to it, the table is not
    there, and the catalog error says the privileges may be why."""
    conn_id = define(monkeypatch, "pg_stranger", auth_cluster.conn(user="stranger"))

    with pytest.raises(CatalogError, match=r"or its user cannot see it.*privileges") as info:
        count_sales(conn_id)
    assert info.value.permanent


def test_a_revoked_schema_usage_is_a_permission_error(auth_cluster, monkeypatch) -> None:
    cluster = auth_cluster.cluster
    cluster.psql(
        "CREATE SCHEMA hidden; CREATE TABLE hidden.sales (id int);"
        "GRANT SELECT ON hidden.sales TO app;",  # SELECT on the table, no USAGE on its schema
        database="shop",
    )
    conn_id = define(monkeypatch, "pg_no_usage", auth_cluster.conn())

    with pytest.raises(PermissionDenied) as info:
        count_sales(conn_id, TableConfig(name="sales", schema="hidden", mode="full"))
    check_message(info.value, conn_id, "GRANT USAGE ON SCHEMA")
    assert "permission denied for schema hidden" in info.value.driver_message


def test_a_host_name_that_does_not_resolve_is_permanent(monkeypatch, pg_cluster) -> None:
    conn_json = pg_cluster.connection_json().replace('"127.0.0.1"', '"tributary-no-such-host.invalid"')
    conn_id = define(monkeypatch, "pg_bad_host", conn_json)

    with pytest.raises(UnknownHost) as info:
        count_sales(conn_id)
    assert info.value.permanent
    check_message(info.value, conn_id, "tributary-no-such-host.invalid does not resolve", "Host field")


def test_an_undefined_connection_says_how_to_define_it() -> None:
    with pytest.raises(ConnectionUndefined) as info, open_reader("tributary_never_defined"):
        pass
    assert info.value.permanent
    check_message(
        info.value,
        "tributary_never_defined",
        "airflow connections add",
        "AIRFLOW_CONN_TRIBUTARY_NEVER_DEFINED",
    )


def test_the_scanners_libpq_errors_are_classified_too(auth_cluster, monkeypatch) -> None:
    """psycopg2 reads the catalog, DuckDB's scanner reads the rows in a session of its own: a
    password changed in between is refused by libpq inside DuckDB, and classified the same."""
    cluster = auth_cluster.cluster
    cluster.psql(f"CREATE ROLE rotating LOGIN PASSWORD '{APP_PASSWORD}'")
    cluster.psql("GRANT SELECT ON sales TO rotating", database="shop")
    conn_id = define(monkeypatch, "pg_rotating", auth_cluster.conn(user="rotating"))

    with pytest.raises(AuthenticationFailed) as info, open_reader(conn_id) as reader:
        columns = reader.describe(SALES)
        assert reader.scanner_can_read(columns)
        cluster.psql("ALTER ROLE rotating PASSWORD 'rotated-away-123'")
        list(reader.batches(SALES, columns, None))

    failure = info.value
    check_message(failure, conn_id, "Login and Password fields")
    assert "Unable to connect to Postgres" in failure.driver_message, "DuckDB's words are kept"
    assert isinstance(failure.driver_error, duckdb.Error)
    assert "rotated-away-123" not in str(failure)


def test_the_scanner_on_a_server_gone_midway_is_transient(monkeypatch) -> None:
    cluster = start_cluster()
    try:
        cluster.psql("CREATE TABLE sales (id int, sold_at timestamp, amount numeric(10,2))")
        conn_id = define(monkeypatch, "pg_gone", cluster.connection_json())
        with pytest.raises(SourceUnreachable) as info, open_reader(conn_id) as reader:
            columns = reader.describe(SALES)
            cluster.stop()
            list(reader.batches(SALES, columns, None))
    finally:
        remove_cluster(cluster)
    assert not info.value.permanent
    assert isinstance(info.value.driver_error, duckdb.Error)
