"""The lake's connection: a filesystem rebuilt from the connection each time the root is opened.

Two of Airflow's (and universal_pathlib's) internals stand where nothing public does the job; the
tests marked "upgrade guard" fail, naming the function to fix, if an upgrade changes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem

from tests.support.s3 import MotoS3
from tributary.hooks.lake import (
    _airflow_stores,
    _built_filesystem,
    _wrap_filesystem,
    fresh_filesystem,
    open_lake_path,
)


@pytest.fixture
def guard_conn() -> Iterator[str]:
    """A connection id of this test alone; its stores are dropped afterwards."""
    conn_id = f"guard_{uuid.uuid4().hex[:8]}"
    yield conn_id
    _airflow_stores().pop(f"s3-{conn_id}", None)


def test_upgrade_guard_airflow_keeps_one_store_per_alias(guard_conn: str) -> None:
    """``_airflow_stores`` and ``_built_filesystem`` read ``airflow.sdk.io.store._STORE_CACHE``:
    the store of ``protocol-conn_id`` is the one ``attach`` made, its filesystem the one given."""
    first, second = MemoryFileSystem(skip_instance_cache=True), MemoryFileSystem(skip_instance_cache=True)
    store = attach("s3", guard_conn, fs=first)
    stores = _airflow_stores()
    assert isinstance(stores, dict) and stores.get(f"s3-{guard_conn}") is store, (
        "Airflow no longer keeps its object stores in airflow.sdk.io.store._STORE_CACHE by "
        "'protocol-conn_id': fix tributary.hooks.lake._airflow_stores"
    )
    assert _built_filesystem(f"s3-{guard_conn}") is first, (
        "ObjectStore.fs is no longer kept in the store's __dict__: fix tributary.hooks.lake._built_filesystem"
    )
    # why the cache is touched at all: attach keeps the cached store whatever filesystem it is given
    assert attach("s3", guard_conn, fs=second).fs is first
    stores.pop(f"s3-{guard_conn}")
    attach("s3", guard_conn, fs=second)
    path = ObjectStoragePath(f"s3://bucket/{guard_conn}", conn_id=guard_conn)
    assert path.fs is second and path.__wrapped__.fs is second, (
        "ObjectStoragePath no longer serves a conn_id's path with the filesystem attached for it: "
        "fix tributary.hooks.lake.open_lake_path"
    )


def test_upgrade_guard_a_path_without_conn_id_works_through_the_given_filesystem() -> None:
    """``_wrap_filesystem`` sets universal_pathlib's ``UPath._fs_cached`` of the wrapped path."""
    fs = MemoryFileSystem(skip_instance_cache=True)
    key = f"bucket/{uuid.uuid4().hex}/part.parquet"
    path = ObjectStoragePath(f"s3://{key}")
    _wrap_filesystem(path, fs)
    try:
        path.write_bytes(b"rows")
        assert fs.cat(key) == b"rows", (
            "the path wrapped by ObjectStoragePath no longer works through UPath._fs_cached: "
            "fix tributary.hooks.lake._wrap_filesystem"
        )
    finally:
        fs.rm(key)


@pytest.mark.parametrize("named", [True, False], ids=["conn_id", "default credentials"])
def test_each_opening_builds_a_new_filesystem_that_the_path_uses(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    bucket = moto_s3.create_bucket(f"hooks-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_HOOKS", moto_s3.connection_json())
    conn_id = "lake_hooks" if named else None
    url = f"s3://{bucket}/bronze"

    first = open_lake_path(url, conn_id).fs
    second = open_lake_path(url, conn_id)

    assert second.fs is not first  # the filesystem that holds the credentials is built again
    assert second.__wrapped__.fs is second.fs  # ... and serves the path's own reads and writes
    if named:  # the default credentials reach no moto server: only the named connection writes
        (second / "probe").write_bytes(b"x")
        assert moto_s3.keys(bucket, "bronze") == {"bronze/probe": 1}
    _airflow_stores().pop(f"s3-{conn_id}" if conn_id else "s3", None)


def test_a_lake_connection_that_names_nothing_fails_with_what_to_do() -> None:
    from tributary.lake_io import LakeAccessError

    with pytest.raises(
        LakeAccessError, match=r"lake connection 'lake_never_defined' is not defined.*type aws"
    ):
        fresh_filesystem("s3", "lake_never_defined")


def test_s3_credentials_come_from_the_aws_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the dbt profile's DuckDB secret is made of (``tributary.transform.profile``)."""
    from tributary.hooks.lake import s3_credentials

    extra = {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-3"}
    conn = {"conn_type": "aws", "login": "AKIDHOOKS", "password": "hooks-s3cret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_KEYS", json.dumps(conn))
    found = s3_credentials("lake_keys")
    assert (found.access_key, found.secret_key, found.token) == ("AKIDHOOKS", "hooks-s3cret", None)
    assert (found.region, found.endpoint) == ("eu-west-3", "http://127.0.0.1:9")


def test_a_local_lake_is_a_local_folder(tmp_path) -> None:
    """A file:// lake without a connection is opened as a ``pathlib.Path``, its URL's escapes
    decoded; another host's file:// URL, or one with a connection, stays an object-store path."""
    from pathlib import Path

    folder = tmp_path / "lake ünï 'q'"
    assert open_lake_path(folder.as_uri(), None) == folder
    assert type(open_lake_path(folder.as_uri(), None)) is type(Path())
    assert isinstance(open_lake_path("file://elsewhere/lake", None), ObjectStoragePath)


def test_a_task_on_a_local_lake_imports_no_provider_filesystem(tmp_path) -> None:
    """Opening a local lake, writing a part and listing it imports none of the providers'
    filesystems: an ObjectStoragePath's first use imports every installed one (Google's auth and
    client libraries among them), a second of each extract, verify and commit task."""
    import os
    import subprocess
    import sys

    script = f"""
import sys
from tributary.hooks.lake import lake_root
from tributary.lake import Partition
root = lake_root({(tmp_path / "lake").as_uri()!r}, None)
part = Partition(root, "src", "tbl", "month", "2025-01")
part.begin()
print(part.listing(), sorted(m for m in sys.modules if m.startswith("airflow.providers") and ".fs." in m))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "{} []"
