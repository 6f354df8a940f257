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


def init_cluster(
    datadir: Path, *, extra_conf: str = "", hba: str | None = None, tls: Certificates | None = None
) -> None:
    """initdb a cluster in ``datadir`` (a new or empty folder) that listens on 127.0.0.1 only,
    with trust auth: for tests and local development, never for data that matters.

    :param extra_conf: lines added to postgresql.conf
    :param hba: the whole pg_hba.conf, instead of initdb's trust for everyone
    :param tls: ``ssl = on`` with this server certificate and key, and its CA for client
        certificates (``make_certificates``)
    """
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
    if tls is not None:
        # the server reads its key as its own OS user, and refuses one others may read
        for name, source in (
            ("server.crt", tls.server_cert),
            ("server.key", tls.server_key),
            ("ca.crt", tls.ca),
        ):
            shutil.copyfile(source, datadir / name)
            os.chmod(datadir / name, 0o600)
            if os.geteuid() == 0:
                shutil.chown(datadir / name, OS_USER)
        extra_conf += (
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n"
        )
    if hba is not None:
        (datadir / "pg_hba.conf").write_text(hba)
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


def start_cluster(
    base: Path | None = None, *, extra_conf: str = "", hba: str | None = None, tls: Certificates | None = None
) -> PgCluster:
    """initdb + start a throwaway cluster on 127.0.0.1 and a free port, trust auth for tests
    (``init_cluster`` for the options)."""
    root = Path(tempfile.mkdtemp(prefix="tributary-pg-", dir=base))
    init_cluster(root / "data", extra_conf=extra_conf, hba=hba, tls=tls)
    return open_cluster(root / "data")


@dataclass(frozen=True)
class Certificates:
    """PEM files made by ``make_certificates``: a CA, a server certificate it signed, client
    certificates (one per login, its CN) it signed, and a CA that signed none of them."""

    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    other_ca: Path

    def client(self, user: str) -> tuple[Path, Path]:
        """The certificate and key of login ``user`` (mode 0600, as libpq wants a key)."""
        return self.folder / f"{user}.crt", self.folder / f"{user}.key"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(folder: Path, name: str, subject: str, ca: str, extensions: str) -> None:
    _openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject, cwd=folder)  # fmt: skip
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
             cwd=folder)  # fmt: skip
    os.chmod(folder / f"{name}.key", 0o600)


def make_certificates(folder: Path, *, clients: tuple[str, ...] = ()) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate for each
    login of ``clients``, made with the ``openssl`` command; valid for two days."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is not on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        subject = f"/CN=Tributary test {ca}"
        _openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.crt", "-days", "2", "-subj", subject, cwd=folder)  # fmt: skip
    _signed(folder, "server", "/CN=localhost", "ca", "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    for user in clients:
        _signed(folder, user, f"/CN={user}", "ca", "extendedKeyUsage = clientAuth\n")
    return Certificates(
        folder, folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "other-ca.crt"
    )


def remove_cluster(cluster: PgCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
