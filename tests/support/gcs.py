"""GCS for tests: the ``gcp-storage-emulator`` HTTP server on 127.0.0.1 and an Airflow
``google_cloud_platform`` connection to it.

gcsfs (under the Google provider's filesystem) finds the emulator through
``STORAGE_EMULATOR_HOST``; a connection may point elsewhere (a fault proxy) with its
``gcs.endpoint`` extra. The connection is anonymous: the emulator checks no credentials.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.pg import free_port

PROJECT = "tributary-test"

# gcsfs 2026 defaults to a filesystem that first asks the Storage Control gRPC API for the
# bucket's layout; the emulator has no gRPC endpoint, and every call would wait 60 s for it.
# This must be set before gcsfs is imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@dataclass
class GcsEmulator:
    """A running emulator: its endpoint and helpers to arrange and inspect buckets."""

    endpoint: str
    server: Any

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object name under ``prefix`` with its size."""
        return {b.name: int(b.size) for b in self.client().list_blobs(bucket, prefix=prefix)}

    def connection_json(self, *, endpoint: str | None = None) -> str:
        """An anonymous ``google_cloud_platform`` connection (to ``endpoint`` if given)."""
        extra: dict[str, Any] = {"is_anonymous": True, "project": PROJECT}
        if endpoint:
            extra["gcs.endpoint"] = endpoint
        return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """The GCS emulator over HTTP on 127.0.0.1 and a free port, in memory, for the session."""
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    try:
        yield GcsEmulator(endpoint=endpoint, server=server)
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        server.stop()
