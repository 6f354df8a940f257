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


def start_cluster(base: Path | None = None, *, extra_conf: str = "") -> PgCluster:
    """initdb + start a cluster listening on 127.0.0.1 only, trust auth for local tests."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    root = Path(tempfile.mkdtemp(prefix="tributary-pg-", dir=base))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER)
        shutil.chown(datadir, OS_USER)
    os.chmod(datadir, 0o700)
    subprocess.run(
        _as_pg(
            ["initdb", "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    with open(datadir / "postgresql.conf", "a") as fh:
        fh.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\ntimezone = 'UTC'\n" + extra_conf
        )
    cluster = PgCluster(datadir=datadir, port=port)
    cluster.start()
    return cluster


def remove_cluster(cluster: PgCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
