"""`make airflow`: a local Airflow 3 on this project, in the foreground.

Starts the API server (with the UI), the scheduler, the DAG processor and the triggerer, each as
its own process, over a PostgreSQL metadata database that this command starts and stops (SQLite
locks when a scheduler and a CLI write at once). Before that it:

- writes ``$AIRFLOW_HOME/airflow.cfg`` (home ``.airflow/local`` by default): this project's
  ``dags/`` and ``plugins/``, Airflow's example DAGs off, LocalExecutor, a free port, and secrets
  generated once and kept, so a second shell needs only ``AIRFLOW_HOME`` to use the same Airflow;
- migrates the metadata database and applies ``airflow_settings.yaml`` (the Astro CLI's format:
  its connections, pools and variables), with a path under ``/usr/local/airflow`` (the project
  folder in the Astro image) read as the same path under this project;
- generates the demo source ``data/pos.sqlite`` if it is missing.

It prints the UI's URL, the login and the environment line for a second shell, then waits. Ctrl-C
(or SIGTERM) stops every process it started, and the database, and exits 0; if a component dies,
the others are stopped too and the exit code is 1.

The test suite starts the same stack once per session (``tests/airflow/conftest.py``) through
``LocalAirflow``, in a throwaway home.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from tests.support.pg import PgCluster, free_port, init_cluster, open_cluster  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEFAULT_HOME = ROOT / ".airflow" / "local"
SETTINGS = ROOT / "airflow_settings.yaml"
ASTRO_PROJECT = "/usr/local/airflow"  # the project folder in the Astro Runtime image
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
USER = "admin"


# --- airflow_settings.yaml ---------------------------------------------------------------------


@dataclass
class Settings:
    """What ``airflow_settings.yaml`` declares, in the formats of ``airflow connections import``,
    ``airflow pools import`` and ``airflow variables import``."""

    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)


def _local_path(value: Any, project: Path) -> Any:
    if isinstance(value, str) and (value == ASTRO_PROJECT or value.startswith(ASTRO_PROJECT + "/")):
        return str(project) + value[len(ASTRO_PROJECT) :]
    return value


def read_settings(path: Path = SETTINGS, project: Path = ROOT) -> Settings:
    """The connections, pools and variables of an Astro CLI ``airflow_settings.yaml``."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    airflow = doc.get("airflow") or {}
    settings = Settings()
    for conn in airflow.get("connections") or []:
        conn_id = conn.get("conn_id")
        if not conn_id or not conn.get("conn_type"):
            raise ValueError(f"{path}: every connection needs conn_id and conn_type, got {conn!r}")
        extra = conn.get("conn_extra")
        entry = {
            "conn_type": conn["conn_type"],
            "host": _local_path(conn.get("conn_host"), project),
            "schema": conn.get("conn_schema"),
            "login": conn.get("conn_login"),
            "password": conn.get("conn_password"),
            "port": conn.get("conn_port"),
            "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
        }
        settings.connections[conn_id] = {k: v for k, v in entry.items() if v not in (None, "")}
    for pool in airflow.get("pools") or []:
        settings.pools[pool["pool_name"]] = {
            "slots": int(pool["pool_slot"]),
            "description": pool.get("pool_description") or "",
            "include_deferred": False,
        }
    for variable in airflow.get("variables") or []:
        if variable.get("variable_name"):
            settings.variables[variable["variable_name"]] = variable.get("variable_value")
    return settings


# --- the Airflow home --------------------------------------------------------------------------


def _kept_secrets(cfg: Path) -> dict[tuple[str, str], str]:
    """The secrets of an earlier airflow.cfg of this home, so sessions and tokens survive."""
    keys = (("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret"))
    parser = configparser.RawConfigParser()
    if cfg.exists():
        parser.read(cfg)
    kept = {}
    for section, key in keys:
        kept[(section, key)] = parser.get(section, key, fallback="") or ""
    if not kept[("core", "fernet_key")]:
        from cryptography.fernet import Fernet

        kept[("core", "fernet_key")] = Fernet.generate_key().decode()
    for section, key in keys[1:]:
        kept[(section, key)] = kept[(section, key)] or secrets.token_urlsafe(32)
    return kept


def write_config(home: Path, *, port: int, database_url: str, extra: dict[str, str] | None = None) -> Path:
    """``home/airflow.cfg``: what every component and a second shell's CLI read."""
    cfg = home / "airflow.cfg"
    kept = _kept_secrets(cfg)
    url = f"http://127.0.0.1:{port}"
    values: dict[tuple[str, str], str] = {
        ("core", "dags_folder"): str(ROOT / "dags"),
        ("core", "plugins_folder"): str(ROOT / "plugins"),
        ("core", "load_examples"): "False",
        ("core", "executor"): "LocalExecutor",
        ("core", "execution_api_server_url"): f"{url}/execution/",
        ("core", "simple_auth_manager_users"): f"{USER}:admin",
        ("core", "simple_auth_manager_passwords_file"): str(home / "passwords.json"),
        ("database", "sql_alchemy_conn"): database_url,
        ("api", "host"): "127.0.0.1",
        ("api", "port"): str(port),
        ("api", "base_url"): url,
        ("api", "workers"): "1",
        ("logging", "base_log_folder"): str(home / "logs"),
        ("scheduler", "scheduler_heartbeat_sec"): "2",
        ("dag_processor", "refresh_interval"): "10",
        ("cosmos", "enable_telemetry"): "False",
        **kept,
    }
    for dotted, value in (extra or {}).items():
        section, key = dotted.split(".", 1)
        values[(section, key)] = value
    parser = configparser.RawConfigParser()
    for (section, key), value in values.items():
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    with open(cfg, "w", encoding="utf-8") as fh:
        fh.write("# Written by `make airflow` (scripts/local_airflow.py) at every start.\n")
        parser.write(fh)
    os.chmod(cfg, 0o600)  # it holds the secrets
    return cfg


def login_password(home: Path) -> str:
    """The admin password, made once: the simple auth manager reads it from passwords.json."""
    path = home / "passwords.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if USER not in known:
        known[USER] = secrets.token_urlsafe(12)
        path.write_text(json.dumps(known) + "\n")
        os.chmod(path, 0o600)
    return str(known[USER])


def ensure_demo_source(settings: Settings) -> Path | None:
    """Generate the demo source (``data/pos.sqlite``) if the settings point at it and it is
    missing, with the months of the demo config, as ``make demo`` does."""
    host = settings.connections.get("pos_db", {}).get("host")
    if not host or Path(host).exists():
        return None
    from scripts.demo import demo_months
    from scripts.demo_source import generate

    config, windows = demo_months()
    Path(host).parent.mkdir(parents=True, exist_ok=True)
    print(f"== generating the demo source {host} ({len(windows)} months)", flush=True)
    generate(Path(host), start=config.start_date, months=len(windows))
    return Path(host)


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class LocalAirflow:
    """A running local Airflow: its home, API port, metadata database and component processes."""

    home: Path
    port: int
    env: dict[str, str]
    database: PgCluster
    password: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def airflow(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` as a user's second shell would, against this Airflow."""
        out = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and out.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
            )
        return out

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=3) as response:
                health = json.load(response)
        except (OSError, ValueError):
            return False
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")
        )

    def dead(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.home / "logs" / f"{name}.out"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self.dead():
                tails = "\n".join(f"--- {name}:\n{self.log_tail(name)}" for name in dead)
                raise RuntimeError(f"Airflow component(s) {', '.join(dead)} exited while starting:\n{tails}")
            if self.healthy():
                return
            time.sleep(1)
        raise TimeoutError(
            f"Airflow at {self.url} was not healthy after {timeout:.0f}s (logs: {self.home}/logs)"
        )

    def stop(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL after 30 s), then the database."""
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # a component's own children (task processes) are in its process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.database.stop()


def environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the components and of the CLI: this home, this venv's ``airflow``
    first on PATH (Airflow starts sub-processes by that name), the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def start(
    home: Path = DEFAULT_HOME,
    *,
    settings: Settings | None = None,
    env: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
    port: int | None = None,
) -> LocalAirflow:
    """Prepare ``home`` and start the four components; returns once the API server reports
    every component healthy. ``env`` adds environment variables (e.g. ``AIRFLOW_CONN_*``,
    ``TRIBUTARY_PIPELINES_DIR``), ``config`` airflow.cfg values (``"section.key"``)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    settings = settings if settings is not None else read_settings()
    datadir = home / "postgres" / "data"
    if not (datadir / "PG_VERSION").exists():
        print(f"== creating the metadata database cluster {datadir}", flush=True)
        init_cluster(datadir)
    database = open_cluster(datadir)
    stack: LocalAirflow | None = None
    try:
        if "airflow" not in database.psql("SELECT datname FROM pg_database").split():
            database.psql("CREATE DATABASE airflow")
        port = port or free_port()
        write_config(
            home,
            port=port,
            database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{database.port}/airflow",
            extra=config,
        )
        stack = LocalAirflow(
            home=home, port=port, env=environment(home, env), database=database, password=login_password(home)
        )
        print("== migrating the metadata database (airflow db migrate)", flush=True)
        stack.airflow("db", "migrate", timeout=600)
        apply_settings(stack, settings)
        for name in COMPONENTS:
            log = open(home / "logs" / f"{name}.out", "ab")  # noqa: SIM115 - the child keeps it
            stack.processes[name] = subprocess.Popen(
                [str(VENV_BIN / "airflow"), name],
                env=stack.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group per component: stopped as a whole
            )
            log.close()
        stack.wait_healthy()
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            database.stop()
        raise


def apply_settings(stack: LocalAirflow, settings: Settings) -> None:
    """Connections, pools and variables, through Airflow's own import commands."""
    with tempfile.TemporaryDirectory(prefix="tributary-settings-") as tmp:
        for kind, data, extra in (
            ("connections", settings.connections, ("--overwrite",)),
            ("pools", settings.pools, ()),
            ("variables", settings.variables, ()),
        ):
            if not data:
                continue
            path = Path(tmp) / f"{kind}.json"
            path.write_text(json.dumps(data))
            os.chmod(path, 0o600)
            stack.airflow(kind, "import", str(path), *extra)
            print(f"== {kind} of {SETTINGS.name}: {', '.join(sorted(data))}", flush=True)


@contextlib.contextmanager
def running(home: Path, **kwargs: Any) -> Iterator[LocalAirflow]:
    stack = start(home, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()


# --- the command -------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("TRIBUTARY_AIRFLOW_HOME") or DEFAULT_HOME),
        help="the Airflow home (default .airflow/local, or $TRIBUTARY_AIRFLOW_HOME)",
    )
    parser.add_argument("--port", type=int, default=None, help="the API server's port (default: a free one)")
    parser.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="celery: a Redis broker and --workers Celery workers too (scripts/local_celery.py)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    return parser.parse_args(argv)


def _start(args: argparse.Namespace, home: Path, settings: Settings) -> LocalAirflow:
    if args.executor == "celery":
        from scripts.local_celery import default_workers, start_celery

        return start_celery(home, workers=default_workers(args.workers), settings=settings, port=args.port)
    return start(home, settings=settings, port=args.port)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    home = args.home.resolve()

    def stop_requested(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops it as Ctrl-C does

    signal.signal(signal.SIGTERM, stop_requested)
    settings = read_settings()
    ensure_demo_source(settings)
    try:
        stack = _start(args, home, settings)
    except KeyboardInterrupt:
        print("== stopped while starting", flush=True)
        return 0
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"== Airflow did not start: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        f"""
== Airflow is up: {stack.url}
   login: {USER} / {stack.password}
   components: {", ".join(f"{n} (pid {p.pid})" for n, p in stack.processes.items())}
   logs: {home / "logs"}/<component>.out; task logs under {home / "logs"}
   a second shell uses this Airflow with:
     export AIRFLOW_HOME={home} PATH={VENV_BIN}:$PATH
     airflow dags trigger replicate_pos -l 2025-03-01
   Ctrl-C stops every process of this Airflow.
""",
        flush=True,
    )
    code = 0
    try:
        while True:
            if dead := stack.dead():
                for name in dead:
                    print(f"== {name} exited; its log ends with:\n{stack.log_tail(name)}", file=sys.stderr)
                code = 1
                break
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    print("== stopping Airflow", flush=True)
    stack.stop()
    print("== stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
