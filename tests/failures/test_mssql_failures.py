"""SQL Server failures, classified from real pymssql/FreeTDS errors and real server texts.

No SQL Server runs here, so the server's messages come from where they were written down. Each
case says where its text came from:

- "here": captured on this machine from pymssql 2.4.6 (FreeTDS 1.5.19, ``pymssql.get_dbversion()``)
  -- the live tests at the end make these again on every run.
- "pymssql #N": the exception as printed in the GitHub issue pymssql/pymssql#N.
- "log": a pymssql exception quoted verbatim in a public log or write-up (found with a code search
  for the exact text); the server's part is Microsoft's message template filled in.
- "docs": the message template of the error number in Microsoft's "Database engine events and
  errors" (learn.microsoft.com/sql/relational-databases/errors-events), with pymssql's framing:
  ``(number, b"<server text>DB-Lib error message 20018, severity <s>:\\nGeneral SQL Server error:
  Check messages from the SQL Server\\n")``, as pymssql's ``msg_handler``/``err_handler`` build it
  (``_mssql.pyx``) and as the issues above show.
- "FreeTDS": the DB-Lib message table of ``src/dblib/dblib.c`` (FreeTDS commit 7cce67e), framed as
  pymssql's ``err_handler`` frames a DB-Lib error (``DB-Lib error message %d, severity %d:\\n%s\\n``
  plus ``Net-Lib error during %s (%d)\\n`` for an OS error).
- "ODBC": Microsoft's ODBC drivers' texts (seed 004's VM, and the issues cited), which pymssql
  never produces but an operator pastes from ``sqlcmd``; classified by text with ``recognise``.
"""

from __future__ import annotations

import json
import socket

import pymssql
import pytest

from tributary.failures import (
    AuthenticationFailed,
    ConnectionReset,
    DatabaseMissing,
    Deadlock,
    ObjectMissing,
    PermissionDenied,
    ServerBusy,
    SourceFailure,
    SourceTimeout,
    SourceUnreachable,
    Target,
    UnknownHost,
    classify,
)
from tributary.failures.classify import CONNECT, QUERY, recognise
from tributary.hooks.sources import open_reader

PASSWORD = "Sa-Pa55word!"
TARGET = Target(
    conn_id="pos_mssql",
    dialect="mssql",
    host="10.0.1.194",
    port=1433,
    login="etl_user",
    database="MarryBrown_DW",
    secrets=(PASSWORD,),
)
SERVER = (
    b"DB-Lib error message 20018, severity 14:\nGeneral SQL Server error: Check messages "
    b"from the SQL Server\n"
)

CASES = [
    # (source, phase, pymssql exception, class, words the advice must hold)
    (
        "pymssql #804 (a wrong database name)",
        CONNECT,
        pymssql.OperationalError(
            (
                18456,
                b"Login failed for user 'edpc_posgp'.DB-Lib error message 20018, "
                b"severity 14:\nGeneral SQL Server error: Check messages from the SQL Server\nDB-Lib error "
                b"message 20002, severity 9:\nAdaptive Server connection failed (GSSQL009HZ)\nDB-Lib error "
                b"message 20002, severity 9:\nAdaptive Server connection failed (GSSQL009HZ)\n",
            )
        ),
        AuthenticationFailed,
        [
            "Login and Password fields",
            "ALTER LOGIN [etl_user] ENABLE",
            "SQL Server and Windows Authentication mode",
            "restart the SQL Server service",
            "(the Schema field) exists",
        ],
    ),
    (
        "pymssql #771",
        CONNECT,
        pymssql.OperationalError(
            (
                17892,
                b"Logon failed for login 'sqluser' due to trigger execution."
                b"DB-Lib error message 20018, severity 14:\nGeneral SQL Server error: Check messages "
                b"from the "
                b"SQL Server\nDB-Lib error message 20002, severity 9:\nAdaptive Server connection "
                b"failed (host)\n",
            )
        ),
        AuthenticationFailed,
        ["server's error log"],
    ),
    (
        "here: nothing listens on 127.0.0.1:1",
        CONNECT,
        pymssql.OperationalError(
            (
                20009,
                b"DB-Lib error message 20009, severity 9:\nUnable to connect: TDS "
                b"server is unavailable or does not exist (127.0.0.1)\nNet-Lib error during Connection "
                b"refused "
                b"(111)\n",
            )
        ),
        SourceUnreachable,
        ["systemctl start mssql-server", "TCP/IP", "`127.0.0.1` rather than `localhost`"],
    ),
    (
        "pymssql module state (_mssql.pyx clr_err(None) assigns locals): a refused connect after a "
        "failed login still carries the login's 18456 in front",
        CONNECT,
        pymssql.OperationalError(
            (
                18456,
                b"DB-Lib error message 20009, severity 9:\nUnable to connect: TDS "
                b"server is unavailable or does not exist (127.0.0.1)\nNet-Lib error during Connection "
                b"refused "
                b"(111)\n",
            )
        ),
        SourceUnreachable,
        ["TCP/IP"],
    ),
    (
        "pymssql #818",
        CONNECT,
        pymssql.OperationalError(
            (
                20009,
                b"DB-Lib error message 20009, severity 9:\nUnable to connect: "
                b"Adaptive Server is unavailable or does not exist (185.65.205.135)\nNet-Lib error during "
                b"Connection timed out (110)\n",
            )
        ),
        SourceUnreachable,
        ["firewall"],
    ),
    (
        "pymssql #507 (Azure SQL) and whyour/qinglong#2161",
        CONNECT,
        pymssql.OperationalError(
            (
                20002,
                b"DB-Lib error message 20002, severity 9:\nAdaptive Server "
                b"connection failed (40.68.37.158:1433)\n",
            )
        ),
        SourceUnreachable,
        ['"tds_version": "7.4"', '"encryption": "require"'],
    ),
    (
        "pymssql #114 (garbage before the text, as printed)",
        CONNECT,
        pymssql.OperationalError(
            (
                20017,
                b"\xa0\xff\xaf\x02;DB-Lib error message 20017, severity 9:\n"
                b"Unexpected EOF from the server\nDB-Lib error message 20002, severity 9:\nAdaptive Server "
                b"connection failed\n",
            )
        ),
        SourceUnreachable,
        ["tds_version"],
    ),
    (
        "pymssql #411 (a query over the `timeout` extra)",
        QUERY,
        pymssql.OperationalError(
            (20003, b"DB-Lib error message 20003, severity 6:\nAdaptive Server connection timed out\n")
        ),
        SourceTimeout,
        ["`timeout` and `login_timeout`", "index the date column"],
    ),
    (
        "pymssql #898 (a login timeout; 701 in front is stale module state)",
        CONNECT,
        pymssql.OperationalError(
            (
                701,
                b"DB-Lib error message 20003, severity 6:\nAdaptive Server "
                b"connection timed out (170.127.126.x)\nOperating System error during Operation now in "
                b"progress (115)\nDB-Lib error message 20002, severity 9:\nAdaptive Server connection failed "
                b"(170.127.126.x)\n",
            )
        ),
        SourceTimeout,
        ["login to 10.0.1.194:1433 timed out", "login_timeout"],
    ),
    (
        "log (pymssql.exceptions.ProgrammingError quoted in a public report)",
        QUERY,
        pymssql.ProgrammingError(
            (
                208,
                b"Invalid object name 'edfi.Candidate'.DB-Lib error message 20018, "
                b"severity 16:\nGeneral SQL Server error: Check messages from the SQL Server\n",
            )
        ),
        ObjectMissing,
        ["edfi.Candidate does not exist", "`name`, `schema` and `columns`"],
    ),
    (
        "log (a msdb permission audit)",
        QUERY,
        pymssql.OperationalError(
            (229, b"The SELECT permission was denied on the object 'sysjobs', database 'msdb', schema 'dbo'.")
        ),
        PermissionDenied,
        ["may not read dbo.sysjobs", "GRANT SELECT ON [<schema>].[<table>] TO [etl_user]", "db_datareader"],
    ),
    (
        "log (a game server's patch log)",
        QUERY,
        pymssql.OperationalError(
            (
                1205,
                b"Transaction (Process ID 155) was deadlocked on lock | communication "
                b"buffer resources with another process and has been chosen as the deadlock victim. "
                b"Rerun the "
                b"transaction.DB-Lib error message 20018, severity 13:\nGeneral SQL Server error: "
                b"Check messages "
                b"from the SQL Server\n",
            )
        ),
        Deadlock,
        ["READ_COMMITTED_SNAPSHOT", "require_read_replica: true"],
    ),
    (
        "docs: 916",
        QUERY,
        pymssql.OperationalError(
            (
                916,
                b'The server principal "etl_user" is not able to access the database '
                b'"MarryBrown_DW" under the current security context.' + SERVER,
            )
        ),
        PermissionDenied,
        ["CREATE USER [etl_user] FOR LOGIN [etl_user]"],
    ),
    (
        "docs: 978 (an availability group secondary that takes read intent only)",
        CONNECT,
        pymssql.OperationalError(
            (
                978,
                b"The target database ('MarryBrown_DW') is in an availability group "
                b"and is currently accessible for connections when the application intent is set to "
                b"read only. "
                b"For more information about application intent, see SQL Server Books Online." + SERVER,
            )
        ),
        DatabaseMissing,
        ["application_intent: ReadOnly", '"read_only": true'],
    ),
    (
        "docs: 1222",
        QUERY,
        pymssql.OperationalError((1222, b"Lock request time out period exceeded." + SERVER)),
        SourceTimeout,
        ["lock wait (error 1222)"],
    ),
    (
        "docs: 40613 (Azure SQL, a transient error per 'Troubleshoot transient connection errors')",
        CONNECT,
        pymssql.OperationalError(
            (
                40613,
                b"Database 'MarryBrown_DW' on server 'pos' is not currently "
                b"available. Please retry the connection later." + SERVER,
            )
        ),
        ServerBusy,
        ["max_connections"],
    ),
    (
        "FreeTDS: 20004, with the OS error of a reset",
        QUERY,
        pymssql.OperationalError(
            (
                20004,
                b"DB-Lib error message 20004, severity 9:\nRead from the server "
                b"failed (10.0.1.194)\nNet-Lib error during Connection reset by peer (104)\n",
            )
        ),
        ConnectionReset,
        ["cut"],
    ),
    (
        "FreeTDS: 20006",
        QUERY,
        pymssql.OperationalError(
            (20006, b"DB-Lib error message 20006, severity 9:\nWrite to the server failed\n")
        ),
        ConnectionReset,
        [],
    ),
    (
        "FreeTDS: 20047",
        QUERY,
        pymssql.OperationalError(
            (20047, b"DB-Lib error message 20047, severity 1:\nDBPROCESS is dead or not enabled\n")
        ),
        ConnectionReset,
        [],
    ),
    (
        "FreeTDS: 20013",
        CONNECT,
        pymssql.OperationalError(
            (20013, b"DB-Lib error message 20013, severity 2:\nUnknown host machine name\n")
        ),
        UnknownHost,
        ["Host field"],
    ),
]


@pytest.mark.parametrize(("source", "phase", "error", "kind", "words"), CASES, ids=[c[0][:40] for c in CASES])
def test_pymssql_errors_are_classified(
    source: str, phase: str, error: Exception, kind: type, words: list[str]
) -> None:
    failure = classify(error, TARGET, phase=phase)

    assert type(failure) is kind, f"{source}: {failure}"
    assert failure.__cause__ is error
    message = str(failure)
    assert "connection 'pos_mssql'" in message
    assert failure.driver_message and failure.driver_message in message, "the driver's words are kept"
    for word in words:
        assert word in message, f"{word!r} missing from:\n{message}"
    assert PASSWORD not in message
    assert failure.permanent is kind.permanent


ODBC_TEXTS = [
    # seed 004 (the Windows VM, ODBC Driver 17), and the SNAC form in Microsoft's SQL Protocols blog
    (
        "[Microsoft][ODBC Driver 17 for SQL Server]Named Pipes Provider: Could not open a connection to "
        "SQL Server [53].",
        SourceUnreachable,
        "mssql_named_pipes",
    ),
    (
        "[SQL Native Client]Named Pipes Provider: Could not open a connection to SQL Server [53].",
        SourceUnreachable,
        "mssql_named_pipes",
    ),
    # ESSolutions/django-mssql-backend#89
    (
        "('28000', \"[28000] [Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Login failed for user "
        "'etl_user'. (18456) (SQLDriverConnect)\")",
        AuthenticationFailed,
        None,
    ),
    # docs: 18470, the reason the server's error log gives for seed 004's disabled login
    (
        "[Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Login failed for user 'etl_user'. Reason: "
        "The account is disabled. (18470)",
        AuthenticationFailed,
        None,
    ),
    # docs: 4060, as ODBC shows it (pymssql folds it into 18456: the login packet names the database)
    (
        '[Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Cannot open database "MarryBrown_DW" '
        "requested by the login. The login failed. (4060)",
        DatabaseMissing,
        None,
    ),
    # docs: MSSQLSERVER_11001 in "A network-related or instance-specific error occurred"
    (
        "provider: TCP Provider, error: 0 - No such host is known. (Microsoft SQL Server, Error: 11001)",
        UnknownHost,
        None,
    ),
]


@pytest.mark.parametrize(("text", "kind", "advice"), ODBC_TEXTS)
def test_microsoft_driver_texts_are_recognised(text: str, kind: type, advice: str | None) -> None:
    rule = recognise("mssql", text, phase=CONNECT)
    assert rule is not None and rule.kind is kind and rule.advice == advice


def test_the_named_pipes_advice_is_seed_004s_fix() -> None:
    from tributary.failures import failure

    message = str(failure(SourceUnreachable, TARGET, advice="mssql_named_pipes"))
    assert "Enable the TCP/IP protocol" in message and "restart the" in message
    assert "`127.0.0.1` (or the server's address) rather than `localhost`" in message


# -- live: pymssql and FreeTDS on this machine ---------------------------------------------------------


def _mssql(monkeypatch: pytest.MonkeyPatch, conn_id: str, host: str, port: int) -> str:
    conn = {
        "conn_type": "mssql",
        "host": host,
        "port": port,
        "login": "etl_user",
        "password": PASSWORD,
        "schema": "pos",
        "extra": {"login_timeout": 5},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_live_nothing_listening_is_unreachable(monkeypatch) -> None:
    conn_id = _mssql(monkeypatch, "pos_mssql_down", "127.0.0.1", _free_port())

    with pytest.raises(SourceUnreachable) as info, open_reader(conn_id) as reader:
        reader.connection  # noqa: B018 - connecting is the point

    failure = info.value
    assert not failure.permanent
    assert isinstance(failure.__cause__, pymssql.OperationalError)
    assert "Unable to connect" in failure.driver_message and "Connection refused" in failure.driver_message
    assert "TCP/IP" in str(failure) and PASSWORD not in str(failure)


def test_live_a_name_that_does_not_resolve_is_an_unknown_host(monkeypatch) -> None:
    """FreeTDS says only "unable to connect" (20009) for a name that does not resolve; the
    connect failure looks the name up to tell the two apart."""
    conn_id = _mssql(monkeypatch, "pos_mssql_typo", "tributary-no-such-host.invalid", 1433)

    with pytest.raises(UnknownHost) as info, open_reader(conn_id) as reader:
        reader.connection  # noqa: B018

    failure = info.value
    assert failure.permanent
    assert "tributary-no-such-host.invalid does not resolve" in str(failure)
    assert "Unable to connect: TDS server is unavailable or does not exist" in failure.driver_message
    assert isinstance(failure.__cause__, pymssql.OperationalError)


def test_every_kind_has_advice_for_every_dialect() -> None:
    from tributary.failures import KINDS, failure

    for kind in KINDS:
        for dialect in ("postgres", "mssql", "sqlite", None):
            message = str(failure(kind, Target("c", dialect)))
            assert message.startswith(kind.title[0].upper()) and "What to do: " in message
            assert "$" not in message.replace("$CONN", ""), message
            assert isinstance(failure(kind, Target("c", dialect)), SourceFailure)
