"""Uploads that survive a bad network and expired tokens, and fail at once when no retry helps.

A fault proxy of our own (tests/support/faultproxy.py) sits between the package and the storage
server and resets or answers 503 to a share of the requests; the servers are real (moto, the GCS
emulator) and so are the clients (s3fs/botocore, gcsfs/aiohttp, through Airflow's providers).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.lake.test_object_lake import ITEMS, JANUARY, SALES, lake_ids, replicate, source_ids
from tests.support.faultproxy import FaultProxy, http_response
from tests.support.lakes import FAST, ObjectLake, write_partition
from tributary.config import Schedule
from tributary.hooks.lake import lake_root
from tributary.lake import Partition
from tributary.lake_io import LakeAccessError, LakeUnavailableError, RetryPolicy
from tributary.manifest import Manifest
from tributary.replication import table_partition

S3_UNAVAILABLE = http_response(
    "503 Service Unavailable",
    b"<Error><Code>ServiceUnavailable</Code><Message>Please try again.</Message></Error>",
)
RETRY_LOG = "retrying in"


def _faulty_connection(lake: ObjectLake, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection to ``lake``'s server through ``proxy``. On S3 botocore's own retries are off
    (max_attempts 1), so that the faults reach Tributary's; gcsfs always retries on its own."""
    if lake.scheme == "s3":
        monkeypatch.setenv(
            "AIRFLOW_CONN_LAKE_FAULTY", lake.server.connection_json(endpoint=proxy.endpoint, max_attempts=1)
        )
    else:
        monkeypatch.setenv("AIRFLOW_CONN_LAKE_FAULTY", lake.server.connection_json(endpoint=proxy.endpoint))
    return "lake_faulty"


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tributary.lake_io" and RETRY_LOG in r.getMessage()
    ]


@pytest.mark.parametrize("share", [0.3])
def test_the_run_completes_through_resets_and_503s_with_nothing_duplicated(
    object_lake: ObjectLake,
    demo_sqlite: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    share: float,
) -> None:
    unavailable = (
        S3_UNAVAILABLE if object_lake.scheme == "s3" else http_response("503 Service Unavailable", b"")
    )
    upstream = object_lake.server.endpoint
    with FaultProxy(
        upstream, reset=share / 2, unavailable=share / 2, max_faults=12, unavailable_response=unavailable
    ) as proxy:
        conn_id = _faulty_connection(object_lake, proxy, monkeypatch)
        root = lake_root(object_lake.url, conn_id, policy=FAST)
        with caplog.at_level(logging.DEBUG, logger="gcsfs"):  # gcsfs logs its own retries at DEBUG
            manifests = {t.name: replicate(demo_sqlite, root, t) for t in (SALES, ITEMS)}

    print(f"\n{object_lake.scheme}: proxy {dict(proxy.stats)}, retries {root.retries}, opened {root.opened}x")  # noqa: T201 - the measurement, for whoever runs pytest -s
    assert proxy.faults > 0, "the proxy must have broken some requests"
    ours = _retries(caplog)
    assert len(ours) == root.retries
    if object_lake.scheme == "s3":
        # botocore does not retry here, and s3fs retries resets but not a 503: those reach us
        assert root.retries > 0 and root.opened == root.retries + 1, (
            f"each retry opens the root again; {proxy.stats}"
        )
        assert any("HTTP 503 ServiceUnavailable" in line for line in ours)
    else:
        gcsfs_retries = [
            r for r in caplog.records if r.name == "gcsfs" and "retrying after exception" in r.getMessage()
        ]
        assert ours or gcsfs_retries, "the faults were retried, by gcsfs or by Tributary"

    # The lake equals the source, and nothing is there twice.
    clean = lake_root(object_lake.url, object_lake.conn_id)
    for table in (SALES, ITEMS):
        manifest = manifests[table.name]
        partition = table_partition(clean, "pos", table, Schedule.monthly, JANUARY)
        assert partition.state().ready
        names = {k.rsplit("/", 1)[1] for k in object_lake.objects(f"pos/{table.name}/{partition.name}")}
        assert names == {f.name for f in manifest.files} | {"_manifest.json", "_SUCCESS"}
        key = "id" if table is SALES else "item_id"
        ids = lake_ids(partition, manifest, key)
        assert ids == source_ids(demo_sqlite, table) and len(ids) == len(set(ids))


def test_an_expired_token_heals_with_credentials_read_again_from_the_connection(
    s3_lake: ObjectLake, demo_sqlite: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store answers ExpiredToken to requests signed with the old key; the secret is rotated
    in the connection meanwhile. The next retry reads the connection again and goes on."""
    server = s3_lake.server
    old = server.connection_json(login="EXPIREDKEY", max_attempts=1)

    def rotate_on_expiry(head: bytes) -> bytes | None:
        if b"Credential=EXPIREDKEY/" not in head:
            return None
        os.environ["AIRFLOW_CONN_LAKE_ROTATING"] = server.connection_json(
            endpoint=proxy.endpoint, max_attempts=1
        )
        return http_response(
            "400 Bad Request",
            b"<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>",
        )

    with FaultProxy(server.endpoint, rule=rotate_on_expiry) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LAKE_ROTATING",
            json.dumps(
                {**json.loads(old), "extra": {**json.loads(old)["extra"], "endpoint_url": proxy.endpoint}}
            ),
        )
        root = lake_root(s3_lake.url, "lake_rotating", policy=FAST)
        with caplog.at_level(logging.WARNING, logger="tributary.lake_io"):
            manifest = replicate(demo_sqlite, root, ITEMS)

    assert proxy.stats["ruled"] >= 1 and root.retries >= 1
    lines = _retries(caplog)
    assert lines and all("(expired credentials: HTTP 400" in line for line in lines)
    assert all("fresh credentials from connection 'lake_rotating'" in line for line in lines)
    partition = table_partition(
        lake_root(s3_lake.url, s3_lake.conn_id), "pos", ITEMS, Schedule.monthly, JANUARY
    )
    state = partition.state()
    assert state.ready and state.batch_id == manifest.batch_id


def test_retries_give_up_with_a_transient_error_when_the_store_stays_down(
    s3_lake: ObjectLake, demo_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultProxy(
        s3_lake.server.endpoint, unavailable=1.0, max_faults=1000, unavailable_response=S3_UNAVAILABLE
    ) as proxy:
        conn_id = _faulty_connection(s3_lake, proxy, monkeypatch)
        root = lake_root(
            s3_lake.url, conn_id, policy=RetryPolicy(attempts=3, initial=0.01, maximum=0.05, jitter=0.01)
        )
        with pytest.raises(
            LakeUnavailableError, match=r"still failing after 3 attempt\(s\).*connection 'lake_faulty'"
        ) as caught:
            replicate(demo_sqlite, root, ITEMS)
    assert not caught.value.permanent, "Airflow's task retries may still help"


# -- permanent failures: one attempt, a message that says what to fix -----------------------


def _one_attempt(root: object, caplog: pytest.LogCaptureFixture) -> None:
    assert root.retries == 0 and root.opened == 1  # type: ignore[attr-defined]
    assert _retries(caplog) == []


def test_a_missing_bucket_fails_at_once(
    object_lake: ObjectLake, demo_sqlite: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{object_lake.scheme}://no-such-bucket-{object_lake.bucket}/bronze"
    root = lake_root(url, object_lake.conn_id, policy=FAST)
    with caplog.at_level(logging.WARNING), pytest.raises(LakeAccessError) as caught:
        replicate(demo_sqlite, root, ITEMS)
    message = str(caught.value)
    assert "no such bucket" in message and f"connection {object_lake.conn_id!r}" in message
    assert "fix lake.url" in message and caught.value.permanent
    _one_attempt(root, caplog)
    assert f"no-such-bucket-{object_lake.bucket}" not in {b["Name"] for b in _buckets(object_lake)}, (
        "never created"
    )


def _buckets(lake: ObjectLake) -> list[dict[str, str]]:
    if lake.scheme == "s3":
        return lake.server.client().list_buckets()["Buckets"]  # type: ignore[union-attr]
    return [{"Name": b.name} for b in lake.server.client().list_buckets()]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"login": "AKIAUNKNOWNKEY000000", "password": "whatever"}, "InvalidAccessKeyId"),
        ({"password": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"bucket": "other"}, "AccessDenied"),
    ],
    ids=["unknown-key", "wrong-secret", "no-permission"],
)
def test_rejected_credentials_fail_at_once_naming_the_connection(
    s3_lake: ObjectLake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    credentials: dict[str, str],
    code: str,
) -> None:
    """moto checks signatures and IAM policies here, as S3 does. The first request of a run is a
    HEAD (is there a _SUCCESS to remove?), whose refusal has no body; a PUT says why."""
    server = s3_lake.server
    other = server.create_bucket(f"{s3_lake.bucket}-other")
    allowed_on = other if credentials.get("bucket") == "other" else s3_lake.bucket
    with server.iam_enforced(allowed_on) as keys:  # type: ignore[union-attr]
        login = credentials.get("login", keys["login"])
        password = credentials.get("password", keys["password"])
        monkeypatch.setenv("AIRFLOW_CONN_LAKE_IAM", server.connection_json(login=login, password=password))
        root = lake_root(s3_lake.url, "lake_iam", policy=FAST)
        with caplog.at_level(logging.WARNING), pytest.raises(LakeAccessError) as caught:
            write_partition(root, tmp_path / "staging")
        _one_attempt(root, caplog)
        message = str(caught.value)
        assert "remove _SUCCESS" in message and "HTTP 403 on HeadObject" in message
        assert "connection 'lake_iam'" in message and "access key exists and its secret is right" in message

        with pytest.raises(LakeAccessError) as caught:
            Partition(root, "pos", "items", "snapshot_date", "2025-01-01").write_manifest(_any_manifest())
    message = str(caught.value)
    assert code in message and "connection 'lake_iam'" in message
    fix = "may not do this" if code == "AccessDenied" else "rejects the credentials"
    assert fix in message or "is not allowed to do this" in message


def _any_manifest() -> Manifest:
    return Manifest.model_validate(
        {
            "source": "pos",
            "table": "items",
            "mode": "full",
            "partition": "snapshot_date=2025-01-01",
            "batch_id": "b1",
            "created_at": "2025-01-01T00:00:00Z",
            "rows": 0,
            "files": [],
            "schema": [],
        }
    )


def test_gcs_access_denied_fails_at_once(
    gcs_lake: ObjectLake, demo_sqlite: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator checks no permissions: the proxy answers writes as GCS does to a service
    account without storage.objects.create."""
    body = json.dumps(
        {
            "error": {
                "code": 403,
                "message": "lake@p.iam.gserviceaccount.com does not have storage.objects.create access",
            }
        }
    ).encode()

    def deny_writes(head: bytes) -> bytes | None:
        return http_response("403 Forbidden", body, "application/json") if head.startswith(b"POST ") else None

    with FaultProxy(gcs_lake.server.endpoint, rule=deny_writes) as proxy:
        conn_id = _faulty_connection(gcs_lake, proxy, monkeypatch)
        root = lake_root(gcs_lake.url, conn_id, policy=FAST)
        with (
            caplog.at_level(logging.WARNING),
            pytest.raises(
                LakeAccessError, match=r"access denied .*connection 'lake_faulty'.*roles/storage.objectAdmin"
            ),
        ):
            replicate(demo_sqlite, root, ITEMS)
    _one_attempt(root, caplog)


def test_an_undefined_or_broken_connection_fails_at_once(
    object_lake: ObjectLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tributary.lake import Partition

    root = lake_root(object_lake.url, "no_such_connection", policy=FAST)
    with pytest.raises(
        LakeAccessError,
        match=r"connection 'no_such_connection' is not defined.*AIRFLOW_CONN_NO_SUCH_CONNECTION",
    ):
        Partition(root, "pos", "items", "snapshot_date", "2025-01-01").is_committed()
    assert root.retries == 0
    if object_lake.scheme == "gs":
        monkeypatch.setenv(
            "AIRFLOW_CONN_LAKE_BROKEN",
            json.dumps({"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": "{not json"}}),
        )
        broken = lake_root(object_lake.url, "lake_broken", policy=FAST)
        with pytest.raises(
            LakeAccessError, match=r"cannot build the gs:// filesystem from connection 'lake_broken'"
        ):
            Partition(broken, "pos", "items", "snapshot_date", "2025-01-01").is_committed()
