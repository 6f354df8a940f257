"""A throwaway PostgreSQL cluster on 127.0.0.1 and a free port, for tests and the benchmark.

Uses the server binaries on PATH (initdb, pg_ctl). As root, the server runs as the ``postgres``
OS user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

OS_USER = os.environ.get("PG_OS_USER", "postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT_CONF = "tributary_port.conf"  # included by postgresql.conf: the port of the latest start


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PgCluster:
    datadir: Path
    port: int
    user: str = "postgres"
    password: str = ""
    host: str = "127.0.0.1"

    @property
    def dsn(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.password else f"{self.user}@"
        return f"postgresql://{auth}{self.host}:{self.port}/postgres"

    def connection_json(
        self, database: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        import json

        return json.dumps(
            {
                "conn_type": "postgres",
                "host": self.host,
                "port": self.port,
                "login": user or self.user,
                "password": password if password is not None else self.password,
                "schema": database,
            }
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-At",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run(
            _as_pg(["pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]), capture_output=True
        )

    def start(self) -> None:
        subprocess.run(
            _as_pg(
                [
                    "pg_ctl",
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.datadir / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )


def init_cluster(datadir: Path, *, extra_conf: str = "") -> None:
    """initdb a cluster in ``datadir`` (a new or empty folder) that listens on 127.0.0.1 only,
    with trust auth: for tests and local development, never for data that matters."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) are not on PATH: install PostgreSQL's "
            "server package (Debian: postgresql; macOS: brew install postgresql)"
        )
    datadir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(datadir.parent, OS_USER)
        shutil.chown(datadir, OS_USER)
    os.chmod(datadir, 0o700)
    out = subprocess.run(
        _as_pg(
            ["initdb", "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        ),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        who = f" (the server runs as OS user {OS_USER}, who must be able to enter every parent folder)"
        raise RuntimeError(
            f"initdb {datadir} failed{who if os.geteuid() == 0 else ''}:\n{out.stderr.strip()}"
        )
    with open(datadir / "postgresql.conf", "a") as fh:
        fh.write(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\ntimezone = 'UTC'\n"
            f"include_if_exists = '{PORT_CONF}'\n" + extra_conf
        )


def open_cluster(datadir: Path, port: int | None = None) -> PgCluster:
    """Start the cluster of ``datadir`` (made by ``init_cluster``) on ``port`` (a free one by
    default)."""
    port = port or free_port()
    (datadir / PORT_CONF).write_text(f"port = {port}\n")
    cluster = PgCluster(datadir=datadir, port=port)
    cluster.start()
    return cluster


def start_cluster(base: Path | None = None, *, extra_conf: str = "") -> PgCluster:
    """initdb + start a throwaway cluster on 127.0.0.1 and a free port, trust auth for tests."""
    root = Path(tempfile.mkdtemp(prefix="tributary-pg-", dir=base))
    init_cluster(root / "data", extra_conf=extra_conf)
    return open_cluster(root / "data")


def remove_cluster(cluster: PgCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
