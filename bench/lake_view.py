"""The Lake view's render time over a large lake (issue #18): a generated lake of TABLES tables x
MONTHS monthly partitions, written with Tributary's own commit protocol (``Partition.publish``,
``write_manifest``, ``commit``: parts, manifest, ``_SUCCESS``), then the overview page requested
through the view's FastAPI app, as the API server serves it: ``cold`` (nothing cached: every
manifest and marker read by the request), ``warm`` (within the cache's lifetime), and ``started``
(the first request to an app whose reader has read the lake on its background thread, as the
API server's does from its start: ``LakeReader.start``).

    python bench/lake_view.py                          # 200 tables x 60 months, the figure
    python bench/lake_view.py --tables 20 --months 12  # a quick look

The lake is a local folder (``file://``), read as the view reads a local lake
(``tributary.lake_scan``); an object store's goes through the lake hook.
Most partitions are committed; a few, by a fixed pattern, are left without ``_SUCCESS``, have a
failed check, or are missing, so every kind of cell is drawn.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "plugins", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from tributary.lake import Partition  # noqa: E402
from tributary.manifest import CheckResult, Manifest, ManifestFile, SchemaField  # noqa: E402

SOURCE = "bench"
START = dt.date(2021, 1, 1)
PART = "part-00000.parquet"


def kind_of(table: int, month: int) -> str:
    """The fixed pattern of the generated lake: what partition ``month`` of ``table`` is."""
    spot = (table * 7 + month) % 101
    return {0: "missing", 1: "not-committed", 2: "failed"}.get(spot, "committed")


def month_start(index: int) -> dt.datetime:
    year, month = divmod(START.month - 1 + index, 12)
    return dt.datetime(START.year + year, month + 1, 1, tzinfo=dt.UTC)


def pipeline_yaml(lake: Path, tables: int, months: int) -> str:
    names = "\n".join(f"  - {{name: table_{t:03d}, mode: window, date_column: day}}" for t in range(tables))
    end = month_start(months).date()
    return (
        f"source: {{name: {SOURCE}, conn_id: bench_db}}\nlake: {{url: '{lake.as_uri()}'}}\n"
        f"schedule: '@monthly'\nstart_date: {START}\nend_date: {end}\ntables:\n{names}\n"
    )


def manifest_for(source: str, table: str, month: int, staged: Path, failed: bool) -> Manifest:
    """The manifest of a generated partition: month ``month`` from START, one part, one check
    (and a failed one when ``failed``, which verify leaves uncommitted)."""
    start, end = month_start(month), month_start(month + 1)
    data = staged.read_bytes()
    part = ManifestFile(
        name=PART, rows=1000 + month, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    batch = f"{end:%Y%m%dT%H%M%S}Z{month:04d}"
    checks = [CheckResult(check="not_null(id)", passed=True, detail="0 NULL values")]
    if failed:
        checks.append(CheckResult(check="unique(id)", passed=False, detail="3 duplicate keys, e.g. id=7"))
    return Manifest(
        source=source,
        table=table,
        mode="window",
        partition=f"month={start:%Y-%m}",
        batch_id=batch,
        dag_id=f"replicate_{source}",
        run_id=f"scheduled__{start:%Y-%m-%dT%H:%M:%S}+00:00",
        window_start=start,
        window_end=end,
        created_at=end,
        rows=1000 + month,
        files=[part],
        schema=[SchemaField(name="id", type="int64", nullable=False)],
        source_query_rows=1000 + month,
        verified_at=None if failed else end + dt.timedelta(minutes=5),
        checks=checks,
    )


def generate(folder: Path, tables: int, months: int) -> Path:
    """Write the lake under ``folder/lake`` and its pipeline config; return the config folder."""
    lake, pipelines, staging = folder / "lake", folder / "pipelines", folder / "staging"
    for path in (lake, pipelines, staging):
        path.mkdir(parents=True, exist_ok=True)
    (pipelines / f"{SOURCE}.yaml").write_text(pipeline_yaml(lake, tables, months), encoding="utf-8")
    for t in range(tables):
        for m in range(months):
            if kind_of(t, m) != "missing":
                write_partition(lake, SOURCE, f"table_{t:03d}", m, staging, kind_of(t, m))
    return pipelines


def write_partition(lake: Any, source: str, table: str, month: int, staging: Path, kind: str) -> None:
    """One partition through the commit protocol: parts, manifest, and ``_SUCCESS`` when
    ``kind`` is ``committed`` (``staging`` holds the part ``PART``)."""
    if not (staging / PART).exists():
        staging.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": list(range(1000))}), staging / PART)
    partition = Partition(lake, source, table, "month", f"{month_start(month):%Y-%m}")
    manifest = manifest_for(source, table, month, staging / PART, failed=kind == "failed")
    partition.publish(staging, [PART])
    partition.write_manifest(manifest)
    if kind == "committed":
        partition.commit(manifest)


def _client(pipelines: Path, ttl: float, warm: bool = False) -> tuple[Any, Any]:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from tributary.lake_view.app import create_app
    from tributary.lake_view.reader import LakeReader

    create_auth_manager()  # the configured one (SimpleAuthManager); an admin reads every DAG
    skip = [0.0]  # seconds the reader's clock is ahead (``refresh`` makes every table due)
    reader = LakeReader(pipelines, ttl=ttl, idle=ttl, clock=lambda: time.monotonic() + skip[0])
    reader.skip = skip  # type: ignore[attr-defined]
    app = create_app(reader, warm=warm)
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="bench", role="admin")
    return TestClient(app), reader


def measure(pipelines: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds per overview request, ``cold`` (a new reader each time), ``warm`` (cached) and
    ``started`` (after the background read of a started reader), and ``refresh`` (a round of
    its refresh-ahead, every table due, nothing changed): wall-clock, and CPU (``-cpu``: the
    process's, which a busy machine inflates less)."""
    kinds = ("cold", "warm", "started", "refresh")
    times: dict[str, list[float]] = {f"{k}{cpu}": [] for cpu in ("", "-cpu") for k in kinds}
    for _ in range(rounds):
        client, reader = _client(pipelines, ttl=3600)
        for kind in ("cold", "warm"):
            _request(client, kind, times)
        print(f"  read {reader.reads} partitions, page {len(_request(client, '', {})) / 1e6:.1f} MB")
        client, reader = _client(pipelines, ttl=3600, warm=True)
        started = time.perf_counter()
        assert reader.warmed.wait(600), "the background read did not finish"
        print(f"  started: the background read took {time.perf_counter() - started:.2f}s")
        _request(client, "started", times)
        reader.stop()
        reader.skip[0] += 3600 * 0.75  # every table read over half the cache's lifetime ago
        started, cpu = time.perf_counter(), time.process_time()
        reader.refresh_ahead()  # a round of the background thread, nothing changed in the lake
        times["refresh"].append(time.perf_counter() - started)
        times["refresh-cpu"].append(time.process_time() - cpu)
    return times


def _request(client: Any, kind: str, times: dict[str, list[float]]) -> bytes:
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get("/")
    if kind:
        times[kind].append(time.perf_counter() - started)
        times[f"{kind}-cpu"].append(time.process_time() - cpu)
    assert response.status_code == 200, response.text[:500]
    return bytes(response.content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the lake here (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="measure the lake already in --work")
    args = parser.parse_args(argv)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    work = args.work or Path(tempfile.mkdtemp(prefix="tributary-lake-view-"))
    started = time.perf_counter()
    if args.reuse and args.work:
        pipelines = work / "pipelines"
    else:
        pipelines = generate(work, args.tables, args.months)
        took = time.perf_counter() - started
        print(f"generated {args.tables} tables x {args.months} months in {took:.0f}s: {work}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    times = measure(pipelines, args.rounds)
    for kind, values in times.items():
        print(f"{kind}: median {statistics.median(values):.2f}s ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
