"""What to do about each class of source failure, per dialect: which connection field, which
service command, which setting.

Texts are ``string.Template``s: ``$conn_id``, ``$CONN_ID`` (upper case, as in the
``AIRFLOW_CONN_…`` variable), ``$host``, ``$port``, ``$login``, ``$database`` and ``$object`` (the
table, column or module the driver named) are filled in; nothing else is.
"""

from __future__ import annotations

_CHECK_CONNECTION = (
    "See what connection '$conn_id' holds with `airflow connections get $conn_id`, fix it in the "
    "UI (Admin > Connections), in airflow_settings.yaml or in AIRFLOW_CONN_$CONN_ID, and try it "
    "with `airflow connections test $conn_id`."
)

# kind -> dialect ("*" for any) -> advice
ADVICE: dict[str, dict[str, str]] = {
    "unreachable": {
        "postgres": (
            "nothing accepts connections at $host:$port. Start the server: `sudo systemctl start "
            "postgresql` (Debian/Ubuntu/RHEL), `pg_ctl -D <data directory> start`, or `brew services "
            "start postgresql` (macOS); `pg_isready -h $host -p $port` tells when it is up. If it "
            "runs, check `listen_addresses` and `port` in its postgresql.conf and that no firewall "
            "drops $host:$port; if it runs elsewhere, fix the Host and Port fields. " + _CHECK_CONNECTION
        ),
        "mssql": (
            "SQL Server does not answer at $host:$port. Start the service (`sudo systemctl start "
            "mssql-server`; on Windows `net start MSSQLSERVER` or SQL Server Configuration Manager). "
            "Enable the TCP/IP protocol (SQL Server Configuration Manager > SQL Server Network "
            "Configuration > Protocols > TCP/IP: Enabled, then restart the service) and let TCP "
            "$port through the firewall. Give Host as an address -- `127.0.0.1` rather than "
            "`localhost`, which may resolve to ::1 or, with Microsoft's drivers, fall back to Named "
            "Pipes -- and Port as the instance's TCP port (a named instance listens on its own "
            "port; without it the SQL Server Browser service must answer on UDP 1434). " + _CHECK_CONNECTION
        ),
        "*": "the source server does not answer at $host:$port. " + _CHECK_CONNECTION,
    },
    "unknown_host": {
        "*": (
            "the host name $host does not resolve: fix the Host field of connection '$conn_id' "
            "(a typo, or a name only another network's DNS knows; an IP address works too). "
            + _CHECK_CONNECTION
        ),
    },
    "authentication": {
        "postgres": (
            "the server refused login '$login'. Check the Login and Password fields of connection "
            "'$conn_id'. On the server, the role must exist with LOGIN and a password (`ALTER ROLE "
            '"$login" LOGIN PASSWORD ...`), and pg_hba.conf must have a `host` line for this '
            "database, role and the Airflow worker's address with the method the password was set "
            "for (scram-sha-256 or md5); reload it with `SELECT pg_reload_conf()` or `pg_ctl "
            "reload`. The server log says which of these it was. " + _CHECK_CONNECTION
        ),
        "mssql": (
            "SQL Server refused login '$login' (error 18456; the reason is written only to the "
            "server's error log: state 8 wrong password, 5 unknown login, 7 login disabled, 38 the "
            "database cannot be opened, 58 SQL logins not accepted). Check the Login and Password "
            "fields of connection '$conn_id'; enable the login (`ALTER LOGIN [$login] ENABLE`); "
            "make the server accept SQL logins (Server Properties > Security > 'SQL Server and "
            "Windows Authentication mode', then restart the SQL Server service); and check that "
            "database $database (the Schema field) exists and has a user for the login (`USE "
            "[$database]; CREATE USER [$login] FOR LOGIN [$login]`) -- pymssql names the database "
            "in the login, so a wrong one fails the login itself. " + _CHECK_CONNECTION
        ),
        "*": "the source refused login '$login'. " + _CHECK_CONNECTION,
    },
    "tls": {
        "postgres": (
            "the TLS handshake with $host:$port failed. The TLS settings live in the extra of "
            "connection '$conn_id' as libpq keywords: `sslmode` (require, verify-ca, verify-full), "
            "`sslrootcert` (the CA that signed the server's certificate), `sslcert`, `sslkey` and "
            "`sslpassword` (a client certificate), `sslcrl`, `ssl_min_protocol_version`. The "
            "driver's error below names what was refused. " + _CHECK_CONNECTION
        ),
        "*": "the TLS handshake with $host:$port failed. " + _CHECK_CONNECTION,
    },
    "missing_driver": {
        "postgres": (
            "$object is not installed where the task runs. Add `apache-airflow-providers-postgres`, "
            "`psycopg2-binary`, `duckdb` and `duckdb-extension-postgres-scanner` to requirements.txt "
            "and rebuild the image (`astro dev restart`), or `pip install` them into the workers' "
            "environment."
        ),
        "mssql": (
            "$object is not installed where the task runs. Add `apache-airflow-providers-microsoft-"
            "mssql` and `pymssql` (its wheels bundle FreeTDS) to requirements.txt and rebuild the "
            "image (`astro dev restart`), or `pip install` them into the workers' environment."
        ),
        "sqlite": (
            "$object is not installed where the task runs. Add `apache-airflow-providers-sqlite` "
            "to requirements.txt and rebuild the image (`astro dev restart`)."
        ),
        "*": "$object is not installed where the task runs: add it to requirements.txt and rebuild.",
    },
    "missing_database": {
        "postgres": (
            "database $database does not exist on $host:$port. Fix the Schema field of connection "
            "'$conn_id' (it holds the database name), or create the database (`createdb -h $host "
            "-p $port $database`). " + _CHECK_CONNECTION
        ),
        "mssql": (
            "login '$login' cannot open database $database (error 4060 or 911). Fix the Schema field "
            "of connection '$conn_id' (it holds the database name); check that the database is "
            "ONLINE (`SELECT name, state_desc FROM sys.databases`) and has a user for the login "
            "(`USE [$database]; CREATE USER [$login] FOR LOGIN [$login]`). " + _CHECK_CONNECTION
        ),
        "sqlite": (
            "the SQLite file $database cannot be opened. The Host field of connection '$conn_id' must "
            "be the absolute path of an existing database file that the user running the Airflow "
            "worker can read, in a directory it can read. " + _CHECK_CONNECTION
        ),
        "*": "the source database $database does not exist. " + _CHECK_CONNECTION,
    },
    "permission": {
        "postgres": (
            "login '$login' may not read $object. As the table's owner or a superuser, grant it: "
            '`GRANT USAGE ON SCHEMA <schema> TO "$login"; GRANT SELECT ON <schema>.<table> TO '
            '"$login";` -- for every table of a schema `GRANT SELECT ON ALL TABLES IN SCHEMA '
            '<schema> TO "$login"` and `ALTER DEFAULT PRIVILEGES IN SCHEMA <schema> GRANT SELECT '
            'ON TABLES TO "$login"`. A login without CONNECT on the database needs `GRANT CONNECT '
            "ON DATABASE $database TO \"$login\"`. Or point connection '$conn_id' at a login that "
            "may read it."
        ),
        "mssql": (
            "login '$login' may not read $object in database $database. Grant it: `GRANT SELECT ON "
            "[<schema>].[<table>] TO [$login]`, or for every table `ALTER ROLE db_datareader ADD "
            "MEMBER [$login]`; a login without a user in the database needs `USE [$database]; "
            "CREATE USER [$login] FOR LOGIN [$login]` first. Or point connection '$conn_id' at a "
            "login that may read it."
        ),
        "sqlite": (
            "the user running the Airflow worker may not read the SQLite file $database or its "
            "directory: give it read access (`chmod`/`chown`), or, if only writing is refused, open "
            'the file read-only with `{"mode": "ro"}` in the extra of connection \'$conn_id\'.'
        ),
        "*": "login '$login' may not read $object: grant it SELECT.",
    },
    "missing_object": {
        "*": (
            "$object does not exist in the source of connection '$conn_id', or login '$login' "
            "cannot see it. Check the table's `name`, `schema` and `columns` in the pipeline config "
            "against the source (names are case-sensitive as the source spells them), and the "
            "login's privileges."
        ),
    },
    "missing_connection": {
        "*": (
            "Airflow has no connection '$conn_id'. Define it -- `airflow connections add $conn_id "
            "--conn-uri ...`, Admin > Connections in the UI, airflow_settings.yaml, or the "
            "AIRFLOW_CONN_$CONN_ID environment variable -- or fix `source.conn_id` in the pipeline "
            "config."
        ),
    },
    "not_a_replica": {
        "postgres": (
            "`source.require_read_replica` is true, but connection '$conn_id' reaches a primary "
            "(pg_is_in_recovery() is false at $host:$port). Point its Host and Port at a streaming "
            "standby (a hot standby is in recovery and read-only). If reading this server is "
            "intended, set `require_read_replica: false`."
        ),
        "mssql": (
            "`source.require_read_replica` is true, but connection '$conn_id' reaches a writable "
            "database $database at $host:$port. Point its Host at the readable secondary, or at the "
            "availability group listener with `application_intent: ReadOnly` in the pipeline "
            "config (read-intent routing; the secondary must allow read-intent connections). If "
            "reading this server is intended, set `require_read_replica: false`."
        ),
        "sqlite": (
            "`source.require_read_replica` is true, but connection '$conn_id' opens $database for "
            'writing. Put `{"mode": "ro"}` in the connection\'s extra, so that SQLite opens the '
            "file read-only, or set `require_read_replica: false`."
        ),
        "*": "`source.require_read_replica` is true, but connection '$conn_id' reaches a primary.",
    },
    "timeout": {
        "postgres": (
            "a statement or a lock wait ran past its time limit. If it keeps happening, raise the "
            "login's limits (`ALTER ROLE \"$login\" SET statement_timeout = '2h'`, and "
            "`lock_timeout`), index the date column, or read smaller windows (`schedule: '@daily'`)."
        ),
        "mssql": (
            "a query, a lock wait (error 1222) or the login ran past its time limit. If it keeps "
            "happening, raise `timeout` and `login_timeout` (seconds) in the extra of connection "
            "'$conn_id', index the date column, or read smaller windows (`schedule: '@daily'`)."
        ),
        "sqlite": (
            "another process holds a lock on $database for longer than SQLite waits (database is "
            "locked). Run the extract when the writing application is idle, or replicate a copy of "
            "the file."
        ),
        "*": "the source did not answer in time.",
    },
    "deadlock": {
        "postgres": (
            "the read was chosen as a deadlock victim or hit a serialization failure; the next try "
            "usually succeeds. If it recurs, read from a standby (`require_read_replica: true`)."
        ),
        "mssql": (
            "the session was chosen as a deadlock victim (error 1205): under READ COMMITTED a long "
            "read takes shared locks that writers wait on. The next try usually succeeds; if it "
            "recurs, read from a readable secondary (`require_read_replica: true`) or enable "
            "READ_COMMITTED_SNAPSHOT on database $database."
        ),
        "*": "the read lost a lock conflict; the next try usually succeeds.",
    },
    "connection_reset": {
        "postgres": (
            "the server ended the session mid-way: a restart or failover, `pg_terminate_backend`, "
            "an idle timeout, or a network device dropping a long-quiet TCP connection. If it "
            "recurs, read the server log, and set `keepalives_idle` (seconds) in the extra of "
            "connection '$conn_id'."
        ),
        "mssql": (
            "the connection to SQL Server was cut (a read or write on the socket failed, or it "
            "ended early). If it happens at every login, the server may want encryption or a newer "
            'TDS version: set `"tds_version": "7.4"` (and `"encryption": "require"`) in the extra '
            "of connection '$conn_id'."
        ),
        "*": "the connection to the source was cut.",
    },
    "server_busy": {
        "postgres": (
            "the server cannot take the session now: it is starting up, shutting down or in "
            "recovery, or has no connection slot left. If it recurs, lower `source.max_connections` "
            "or raise `max_connections` on the server."
        ),
        "mssql": (
            "the server cannot take the session now (out of user connections or resources, or the "
            "database is in transition). If it recurs, lower `source.max_connections`."
        ),
        "*": "the source cannot take the session now.",
    },
    "other": {
        "*": (
            "Tributary does not recognise this error, so it is treated as transient. If it "
            "persists, the driver's message below says what failed."
        ),
    },
}

# advice more precise than the class's, chosen by the rule that recognised the error
SPECIFIC: dict[str, str] = {
    "pg_hba": (
        "the server has no pg_hba.conf line that lets login '$login' reach database $database from "
        "the Airflow worker's address. Add one to pg_hba.conf on the server, e.g. `host $database "
        "$login <worker address>/32 scram-sha-256`, and reload it (`SELECT pg_reload_conf()` or "
        "`pg_ctl reload`)."
    ),
    "pg_no_password": (
        "the server asks for a password and connection '$conn_id' has none: fill in its Password "
        "field. " + _CHECK_CONNECTION
    ),
    "pg_tls_rootcert_missing": (
        "`sslmode` verify-ca or verify-full checks the server's certificate against a CA, and "
        "libpq found no CA file. Set `sslrootcert` in the extra of connection '$conn_id' to the "
        "path of the CA certificate that signed the server's (PEM, readable by the user the "
        'Airflow worker runs as), or `"sslrootcert": "system"` for the system\'s trusted roots. '
        + _CHECK_CONNECTION
    ),
    "pg_tls_verify": (
        "the server's certificate at $host:$port did not verify against the CA of `sslrootcert` in "
        "the extra of connection '$conn_id' (a wrong or outdated CA file, a self-signed server "
        "certificate, an expired one, or one revoked by `sslcrl`). Point `sslrootcert` at the CA "
        "that signed the server's certificate (`openssl s_client -starttls postgres -connect "
        "$host:$port -showcerts` shows the chain). " + _CHECK_CONNECTION
    ),
    "pg_tls_hostname": (
        "the server's certificate does not name $host, the Host field of connection '$conn_id', and "
        "`sslmode` verify-full requires it to. Give Host as a name the certificate holds (its CN "
        "or a subjectAltName), reissue the certificate with $host in its subjectAltName, or set "
        "`sslmode` to verify-ca (the CA is still checked, the name is not). " + _CHECK_CONNECTION
    ),
    "pg_tls_client_cert": (
        "libpq could not use the client certificate of connection '$conn_id': check `sslcert` (the "
        "certificate, PEM), `sslkey` (its private key: a file owned by the user the Airflow worker "
        "runs as, mode 0600) and `sslpassword` (the key's passphrase, if it has one) in its extra. "
        + _CHECK_CONNECTION
    ),
    "pg_tls_client_refused": (
        "the server refused the client certificate of login '$login'. `sslcert` and `sslkey` in the "
        "extra of connection '$conn_id' must be a certificate signed by a CA of the server's "
        "`ssl_ca_file`, with the login as its CN (or as mapped by pg_ident.conf), not expired nor "
        "in the server's `ssl_crl_file`; pg_hba.conf's `hostssl ... cert` line asks for it. "
        + _CHECK_CONNECTION
    ),
    "pg_tls_unsupported": (
        "`sslmode` in the extra of connection '$conn_id' requires TLS and the server at $host:$port "
        "does not offer it. Turn it on on the server (`ssl = on` with `ssl_cert_file` and "
        "`ssl_key_file` in postgresql.conf, then reload), or, on a trusted network only, lower "
        "`sslmode` to prefer. " + _CHECK_CONNECTION
    ),
    "pg_tls_protocol": (
        "the client and the server share no TLS version: check `ssl_min_protocol_version` and "
        "`ssl_max_protocol_version` in the extra of connection '$conn_id' against the server's "
        "settings of the same names. " + _CHECK_CONNECTION
    ),
    "pg_tls_setting": (
        "a TLS setting in the extra of connection '$conn_id' has a value libpq does not accept; the "
        "driver's error below names it (e.g. `sslmode`: disable, allow, prefer, require, verify-ca "
        "or verify-full). " + _CHECK_CONNECTION
    ),
    "pg_conflict_with_recovery": (
        "the standby cancelled the read because WAL replay needed rows it was using (a long query "
        "on a hot standby). It is retried; if it recurs, set `hot_standby_feedback = on` or raise "
        "`max_standby_streaming_delay` on the standby, or read smaller windows."
    ),
    "pg_connect_timeout": (
        "connecting to $host:$port timed out: a firewall drops the packets or the server is "
        "overloaded. Check that $host:$port is reachable from the worker (`pg_isready -h $host -p "
        "$port`), or raise `connect_timeout` in the extra of connection '$conn_id'."
    ),
    "dns_temporary": (
        "the DNS lookup of $host failed for now (temporary failure in name resolution); it is "
        "retried. If it recurs, check the worker's DNS settings, or give Host as an IP address."
    ),
    "mssql_named_pipes": (
        "the client could not reach SQL Server over TCP and fell back to Named Pipes (error 40/53: "
        "the network path was not found). Enable the TCP/IP protocol (SQL Server Configuration "
        "Manager > SQL Server Network Configuration > Protocols > TCP/IP: Enabled) and restart the "
        "SQL Server service; give Host as `127.0.0.1` (or the server's address) rather than "
        "`localhost`, and the instance's TCP port in Port. " + _CHECK_CONNECTION
    ),
    "mssql_handshake": (
        "a TCP connection to $host:$port opened but the login handshake failed. Most often the "
        "server wants encryption or a newer protocol (Azure SQL: TLS 1.2 and TDS 7.4): set "
        '`"tds_version": "7.4"` and `"encryption": "require"` in the extra of connection '
        "'$conn_id'; check too that $port is SQL Server's port and that the service is up. "
        + _CHECK_CONNECTION
    ),
    "mssql_login_timeout": (
        "the login to $host:$port timed out: a firewall drops the packets, the server is "
        "overloaded, or a named instance's port is unknown. Check that TCP $port is reachable "
        "from the worker and is the instance's port, or raise `login_timeout` in the extra of "
        "connection '$conn_id'."
    ),
    "mssql_read_intent_required": (
        "database $database on $host is an availability group secondary that admits only "
        "read-intent connections (error 978): set `application_intent: ReadOnly` in the "
        'pipeline config\'s source, or `"read_only": true` in the extra of connection '
        "'$conn_id'."
    ),
    "mssql_secondary_not_readable": (
        "database $database on $host is an availability group secondary that does not allow "
        "reads (error 976). Allow them on the replica (`ALTER AVAILABILITY GROUP ... MODIFY "
        "REPLICA ON ... WITH (SECONDARY_ROLE (ALLOW_CONNECTIONS = READ_ONLY))`) or point "
        "connection '$conn_id' at a readable replica."
    ),
    "mssql_no_database_user": (
        "login '$login' has no user in database $database (error 916). Create one: `USE "
        "[$database]; CREATE USER [$login] FOR LOGIN [$login]; ALTER ROLE db_datareader ADD "
        "MEMBER [$login]`."
    ),
    "sqlite_missing_file": (
        "the SQLite file $database does not exist. The Host field of connection '$conn_id' must "
        "be the absolute path of an existing database file; Tributary does not create a new, "
        "empty one (SQLite would). " + _CHECK_CONNECTION
    ),
    "sqlite_not_a_database": (
        "$database is not an SQLite database (or is encrypted): point the Host field of "
        "connection '$conn_id' at the database file."
    ),
}


def advice_for(kind: str, dialect: str | None, key: str | None = None) -> str:
    """The advice for a failure of ``kind`` on ``dialect``, or the specific advice ``key``."""
    if key is not None:
        return SPECIFIC[key]
    by_dialect = ADVICE[kind]
    return by_dialect.get(dialect or "", by_dialect.get("*", ADVICE["other"]["*"]))
