"""Fixtures of the file-source tests: a landing zone and a lake on a local folder, on S3 (moto)
and on GCS (the emulator), each object store reached through an Airflow connection."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gcs import GcsEmulator
from tests.support.s3 import MotoS3

_buckets = itertools.count(1)

ORDERS_CONTRACT = {
    "columns": [
        {"name": "id", "type": "int64", "nullable": False},
        {"name": "customer", "type": "string"},
        {"name": "amount", "type": "decimal(10,2)"},
        {"name": "status", "type": "string"},
        {"name": "ordered_at", "type": "timestamp"},
    ],
    "primary_key": ["id"],
}


def orders_csv(first_id: int, rows: int, *, day: int = 1, status: str = "open") -> bytes:
    """A good orders file: ``rows`` orders from ``first_id``, placed on 2025-01-<day>."""
    lines = ["id,customer,amount,status,ordered_at"]
    for n in range(first_id, first_id + rows):
        lines.append(f"{n},cust-{n % 7},{n % 50}.{n % 100:02d},{status},2025-01-{day:02d} {n % 24:02d}:15:00")
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Store:
    """A landing zone or a lake: a local folder or a bucket on a test server."""

    url: str
    conn_id: str | None
    put: Callable[[str, bytes], None]
    keys: Callable[[], dict[str, int]]  # every file under the URL, relative name → size
    remove: Callable[[str], None]


def local_store(folder: Path) -> Store:
    folder.mkdir(parents=True, exist_ok=True)

    def put(name: str, body: bytes) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)

    def keys() -> dict[str, int]:
        return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}

    return Store(folder.as_uri(), None, put, keys, lambda name: (folder / name).unlink())


def s3_store(server: MotoS3, prefix: str) -> Store:
    bucket = server.create_bucket(f"files-{next(_buckets)}")
    client = server.client()

    def keys() -> dict[str, int]:
        return {k[len(prefix) + 1 :]: v for k, v in server.keys(bucket, prefix + "/").items()}

    return Store(
        f"s3://{bucket}/{prefix}",
        "files_s3",
        lambda name, body: client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body),
        keys,
        lambda name: client.delete_object(Bucket=bucket, Key=f"{prefix}/{name}"),
    )


def gcs_store(server: GcsEmulator, prefix: str) -> Store:
    bucket_name = server.create_bucket(f"files-{next(_buckets)}")
    bucket = server.client().bucket(bucket_name)

    def keys() -> dict[str, int]:
        return {k[len(prefix) + 1 :]: v for k, v in server.keys(bucket_name, prefix + "/").items()}

    return Store(
        f"gs://{bucket_name}/{prefix}",
        "files_gcs",
        lambda name, body: bucket.blob(f"{prefix}/{name}").upload_from_string(body),
        keys,
        lambda name: bucket.blob(f"{prefix}/{name}").delete(),
    )


@pytest.fixture(params=["local", "s3", "gs"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, Store]:
    """A landing zone and a lake of the same kind: local folders, S3 buckets or GCS buckets."""
    if request.param == "local":
        return local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    if request.param == "s3":
        server = request.getfixturevalue("moto_s3")
        monkeypatch.setenv("AIRFLOW_CONN_FILES_S3", server.connection_json())
        return s3_store(server, "landing"), s3_store(server, "bronze")
    emulator = request.getfixturevalue("gcs_emulator")
    monkeypatch.setenv("AIRFLOW_CONN_FILES_GCS", emulator.connection_json())
    return gcs_store(emulator, "landing"), gcs_store(emulator, "bronze")
