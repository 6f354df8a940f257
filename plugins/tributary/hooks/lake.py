"""The lake's connection: a :class:`~tributary.lake_io.LakeRoot` over Airflow's
``ObjectStoragePath`` whose filesystem is rebuilt from the Airflow connection each time the root
is opened (first use, and before every in-place retry).

Airflow caches one filesystem per ``(protocol, conn_id)`` for the life of the process
(``airflow.sdk.io.store.attach``), and fsspec caches filesystem instances too; a filesystem holds
the credentials it was built with. Opening the root here drops both cached instances and builds a
new filesystem through the provider's ``get_fs`` (``S3Hook`` / ``GoogleBaseHook``), so a token
that expired, or a secret rotated in the connection, is picked up by the next retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow.sdk import BaseHook, ObjectStoragePath

from tributary.lake_io import Kind, LakeAccessError, LakeRoot, RetryPolicy, diagnose

log = logging.getLogger(__name__)

LOCAL = ("file", "local")


def protocol_of(url: str) -> str:
    return urlsplit(url).scheme or "file"


def lake_root(url: str, conn_id: str | None = None, *, policy: RetryPolicy | None = None) -> LakeRoot:
    """The lake at ``url`` (file://, s3://, gs://) with the credentials of ``conn_id``; nothing
    is opened until the first request (constructors stay free of network calls)."""
    return LakeRoot(partial(open_lake_path, url, conn_id), url=url, conn_id=conn_id, policy=policy)


def local_folder(url: str) -> Path | None:
    """The folder of a ``file://`` URL on this machine (None for another host's).

    A local lake is a ``pathlib.Path``, not an ``ObjectStoragePath``: the first file operation
    of an ``ObjectStoragePath`` makes Airflow register every installed provider's filesystem,
    importing each one's module (the Google provider's alone imports its auth and client
    libraries), which cost every extract, verify and commit task about a second of a 2-core
    machine for a lake on its own disk. The core reads and writes both alike.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("", "file") or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path))


def open_lake_path(url: str, conn_id: str | None) -> ObjectStoragePath | Path:
    """``url`` as an ``ObjectStoragePath`` over a filesystem built just now from ``conn_id``; a
    local folder without a connection as a ``pathlib.Path`` (``local_folder``)."""
    protocol = protocol_of(url)
    if protocol in LOCAL:
        folder = local_folder(url)
        if folder is not None and not conn_id:
            return folder
        return ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)
    fs = fresh_filesystem(protocol, conn_id)
    if conn_id:
        # the path hands the filesystem attached for (protocol, conn_id) -- ``fs`` -- to the UPath
        # it wraps, which serves its reads and writes
        return ObjectStoragePath(url, conn_id=conn_id)
    path = ObjectStoragePath(url)
    _wrap_filesystem(path, fs)
    return path


def fresh_filesystem(protocol: str, conn_id: str | None) -> Any:
    """A new fsspec filesystem for ``protocol`` built from ``conn_id`` by the provider, made the
    one Airflow's object storage uses for that connection from now on."""
    from airflow.sdk.io import attach
    from airflow.sdk.io.fs import get_fs

    alias = f"{protocol}-{conn_id}" if conn_id else protocol
    old = _built_filesystem(alias)
    if old is not None:
        type(old).clear_instance_cache()  # fsspec would hand back the same instance
    fs = _build(get_fs, protocol, conn_id)
    if fs is old:  # pragma: no cover - only if a provider caches filesystems of its own
        type(fs).clear_instance_cache()
        fs = _build(get_fs, protocol, conn_id)
    _airflow_stores().pop(alias, None)  # attach() keeps a cached store whatever fs it is given
    attach(protocol, conn_id, fs=fs)
    log.debug("built a new %s filesystem from connection %r", protocol, conn_id)
    return fs


def _airflow_stores() -> dict[str, Any]:
    """Airflow's object stores, one per ``protocol-conn_id`` alias for the life of the process.

    Private to Airflow (``airflow.sdk.io.store._STORE_CACHE``): ``attach`` returns the cached store
    of an alias whatever filesystem it is given, and nothing public drops one, so a filesystem
    built with fresh credentials can only replace the old one here.
    ``tests/hooks/test_lake.py`` fails, naming this function, if an Airflow upgrade changes it.
    """
    from airflow.sdk.io import store

    return store._STORE_CACHE


def _built_filesystem(alias: str) -> Any:
    """The filesystem Airflow's store of ``alias`` has built; ``None`` if it has none yet (its
    ``fs`` is a cached property, built on first use: reading it would build one)."""
    store = _airflow_stores().get(alias)
    return store.__dict__.get("fs") if store is not None else None


def _wrap_filesystem(path: ObjectStoragePath, fs: Any) -> None:
    """Make ``fs`` the filesystem of the UPath that ``path`` wraps and delegates its work to.

    ``ObjectStoragePath`` does this itself when it has a ``conn_id``; without one (the default
    credentials) the wrapped UPath would build a filesystem of its own from fsspec's instance
    cache, which may hold old credentials. Private to universal_pathlib (``UPath._fs_cached``);
    ``tests/hooks/test_lake.py`` fails, naming this function, if an upgrade changes it.
    """
    path.__wrapped__._fs_cached = fs


def _build(get_fs: Any, protocol: str, conn_id: str | None) -> Any:
    try:
        if conn_id:
            # S3Hook falls back to the default credentials (and AWS's endpoints) when the
            # connection is missing; a lake whose conn_id names nothing must fail instead.
            BaseHook.get_connection(conn_id)
        return get_fs(protocol, conn_id)
    except Exception as exc:
        if diagnose(exc).kind is not Kind.OTHER:
            raise  # transient (retried by LakeRoot.run) or a storage refusal it words itself
        kind = {"s3": "aws", "gs": "google_cloud_platform", "gcs": "google_cloud_platform"}.get(protocol, "")
        if type(exc).__name__ == "AirflowNotFoundException":
            raise LakeAccessError(
                f"the lake connection {conn_id!r} is not defined: create it (Admin > Connections, "
                f"or the environment variable AIRFLOW_CONN_{(conn_id or '').upper()}) with type "
                f"{kind or 'matching the lake URL'}, or fix lake.conn_id in the pipeline config"
            ) from exc
        raise LakeAccessError(
            f"cannot build the {protocol}:// filesystem from connection {conn_id!r}: "
            f"{type(exc).__name__}: {exc}. Fix the connection"
            + (f" (type {kind})" if kind else "")
            + " or lake.conn_id in the pipeline config"
        ) from exc


def check_bucket(root: LakeRoot) -> None:
    """Raise :class:`LakeAccessError` when the bucket of an object-store lake does not exist (or
    the connection cannot see it): a sensor must not wait for a partition that cannot appear."""
    if protocol_of(root.url) in LOCAL:
        return
    bucket = urlsplit(root.url).netloc
    # "writing": a missing bucket is what "not found" means here
    root.run(f"find bucket {bucket!r}", lambda path: path.fs.info(bucket), writing=True)


@dataclass(frozen=True)
class S3Credentials:
    """What an Airflow ``aws`` connection resolves to: keys (a role's temporary ones with their
    session token), the region, and the S3 endpoint URL when the connection names one."""

    access_key: str | None
    secret_key: str | None
    token: str | None
    region: str | None
    endpoint: str | None


def s3_credentials(conn_id: str | None) -> S3Credentials:
    """The S3 credentials of the lake connection ``conn_id``, resolved by the provider's
    ``AwsBaseHook`` (keys, an assumed role, a profile, the environment)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    credentials = hook.get_credentials()
    return S3Credentials(
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        token=credentials.token,
        region=hook.conn_region_name,
        endpoint=hook.conn_config.get_service_endpoint_url("s3"),
    )
