"""Lakes for the tests: S3 (moto) and GCS (the emulator) lakes over HTTP, one bucket per test,
each with its Airflow connection in the environment; the commit protocol run on small staged
files. The fixtures are registered once, in ``tests/conftest.py``."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gcs import GcsEmulator
from tests.support.s3 import MotoS3
from tributary.lake import Partition
from tributary.lake_io import RetryPolicy
from tributary.manifest import Manifest, ManifestFile

# Retries as the package does them, with waits short enough for tests.
FAST = RetryPolicy(attempts=6, initial=0.05, maximum=0.5, jitter=0.05)

_buckets = itertools.count(1)


@dataclass
class ObjectLake:
    """A bucket on a test server, the lake URL under it, and the connection that reaches it."""

    scheme: str
    bucket: str
    prefix: str
    conn_id: str
    keys: Callable[[str], dict[str, int]]
    server: MotoS3 | GcsEmulator

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"

    def objects(self, under: str = "") -> dict[str, int]:
        """Every object under the lake (or under ``under`` in it), relative names → sizes."""
        base = f"{self.prefix}/{under}".rstrip("/")
        return {k[len(self.prefix) + 1 :]: v for k, v in self.keys(base).items()}


def _s3_lake(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> ObjectLake:
    bucket = moto_s3.create_bucket(f"lake-{next(_buckets)}")
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", moto_s3.connection_json())
    return ObjectLake("s3", bucket, "bronze", "lake_s3", lambda p: moto_s3.keys(bucket, p), moto_s3)


def _gcs_lake(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> ObjectLake:
    bucket = gcs_emulator.create_bucket(f"lake-{next(_buckets)}")
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_GCS", gcs_emulator.connection_json())
    return ObjectLake(
        "gs", bucket, "bronze", "lake_gcs", lambda p: gcs_emulator.keys(bucket, p), gcs_emulator
    )


@pytest.fixture
def s3_lake(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> ObjectLake:
    return _s3_lake(moto_s3, monkeypatch)


@pytest.fixture
def gcs_lake(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> ObjectLake:
    return _gcs_lake(gcs_emulator, monkeypatch)


@pytest.fixture(params=["s3", "gs"])
def object_lake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ObjectLake:
    """The same test on an S3 lake and on a GCS lake."""
    if request.param == "s3":
        return _s3_lake(request.getfixturevalue("moto_s3"), monkeypatch)
    return _gcs_lake(request.getfixturevalue("gcs_emulator"), monkeypatch)


@pytest.fixture
def sqlite_conn(demo_sqlite: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow sqlite connection to the demo database."""
    monkeypatch.setenv("AIRFLOW_CONN_DEMO_POS", json.dumps({"conn_type": "sqlite", "host": str(demo_sqlite)}))
    return "demo_pos"


def write_partition(
    root: object,
    staging: Path,
    *,
    table: str = "items",
    key: str = "snapshot_date",
    value: str = "2025-01-01",
    files: dict[str, bytes] | None = None,
    commit: bool = True,
) -> Manifest:
    """Run the commit protocol on a partition with small staged files (no source database)."""
    files = (
        files
        if files is not None
        else {"part-b1-00000.parquet": b"rows of part 0", "part-b1-00001.parquet": b"1"}
    )
    staging.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (staging / name).write_bytes(body)
    partition = Partition(root, "pos", table, key, value)  # type: ignore[arg-type]
    manifest = Manifest(
        source="pos",
        table=table,
        mode="full",
        partition=partition.name,
        batch_id="b1",
        created_at=dt.datetime.now(dt.UTC),
        rows=len(files),
        files=[ManifestFile(name=n, rows=1, bytes=len(b), sha256="-") for n, b in files.items()],
        schema=[],
    )
    partition.begin()
    partition.publish(staging, list(files))
    partition.write_manifest(manifest)
    if commit:
        partition.commit(manifest)
    return manifest
