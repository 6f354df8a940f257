"""Which lake failures are retried, which are refreshed, which fail at once; the retry loop.

The exceptions are the storage libraries' own classes, built the way they build them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tributary.lake_io import (
    Kind,
    LakeAccessError,
    LakeRoot,
    LakeUnavailableError,
    Problem,
    RetryPolicy,
    diagnose,
)

FAST = RetryPolicy(attempts=4, initial=0.01, maximum=0.05, jitter=0.01)


def _client_error(code: str, status: int) -> Exception:
    """What s3fs raises: botocore's ClientError translated to an OSError, the error as cause."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    error = ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )
    translated = translate_boto_error(error)
    translated.__cause__ = error
    return translated


def _gcs_error(code: int, message: str) -> Exception:
    from gcsfs.retry import HttpError

    return HttpError({"code": code, "message": message})


@pytest.mark.parametrize(
    ("code", "status", "kind", "problem"),
    [
        ("SlowDown", 503, Kind.TRANSIENT, None),
        ("ServiceUnavailable", 503, Kind.TRANSIENT, None),
        ("InternalError", 500, Kind.TRANSIENT, None),
        ("503", 503, Kind.TRANSIENT, None),
        ("TooManyRequests", 429, Kind.TRANSIENT, None),
        ("RequestTimeout", 400, Kind.TRANSIENT, None),
        ("ExpiredToken", 400, Kind.EXPIRED, None),
        ("NoSuchBucket", 404, Kind.PERMANENT, Problem.NO_BUCKET),
        ("AccessDenied", 403, Kind.PERMANENT, Problem.ACCESS),
        ("InvalidAccessKeyId", 403, Kind.PERMANENT, Problem.CREDENTIALS),
        ("SignatureDoesNotMatch", 403, Kind.PERMANENT, Problem.CREDENTIALS),
        ("PermanentRedirect", 301, Kind.PERMANENT, Problem.LOCATION),
    ],
)
def test_s3_errors_by_code(code: str, status: int, kind: Kind, problem: Problem | None) -> None:
    found = diagnose(_client_error(code, status), writing=True)
    assert (found.kind, found.problem) == (kind, problem)
    assert code in found.reason


def test_a_bare_400_to_a_head_request_is_an_expired_token() -> None:
    from botocore.exceptions import ClientError

    bare = ClientError(
        {"Error": {"Code": "400", "Message": "Bad Request"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "HeadObject",
    )
    assert diagnose(bare).kind is Kind.EXPIRED
    put = ClientError(
        {"Error": {"Code": "400", "Message": "Bad Request"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "PutObject",
    )
    assert diagnose(put).kind is Kind.OTHER


def test_expired_and_denied_tokens_differ_though_s3fs_raises_permission_error_for_both() -> None:
    expired, denied = _client_error("ExpiredToken", 400), _client_error("AccessDenied", 403)
    assert isinstance(expired, PermissionError) and isinstance(denied, PermissionError)
    assert diagnose(expired).kind is Kind.EXPIRED
    assert diagnose(denied).kind is Kind.PERMANENT


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (503, "Service Unavailable", Kind.TRANSIENT),
        (429, "Too Many Requests", Kind.TRANSIENT),
        (408, "Request Timeout", Kind.TRANSIENT),
        (401, "Invalid Credentials", Kind.EXPIRED),
        (403, "rateLimitExceeded", Kind.TRANSIENT),
        (403, "x does not have storage.objects.create access", Kind.PERMANENT),
    ],
)
def test_gcs_errors_by_status(code: int, message: str, kind: Kind) -> None:
    assert diagnose(_gcs_error(code, message)).kind is kind


def test_connection_failures_of_every_library_are_transient() -> None:
    import aiohttp
    import requests
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    failures: list[BaseException] = [
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        EndpointConnectionError(endpoint_url="http://s3"),
        ConnectionClosedError(endpoint_url="http://s3"),
        ReadTimeoutError(endpoint_url="http://s3"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104))"),
        OSError("Forbidden: b/lake\nrateLimitExceeded"),
    ]
    for exc in failures:
        assert diagnose(exc).kind is Kind.TRANSIENT, exc


def test_credential_failures() -> None:
    from botocore.exceptions import NoCredentialsError
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    assert diagnose(RefreshError("Reauthentication is needed")).kind is Kind.EXPIRED
    assert diagnose(NoCredentialsError()).problem is Problem.NO_CREDENTIALS
    assert diagnose(DefaultCredentialsError("no ADC")).problem is Problem.NO_CREDENTIALS
    assert diagnose(OSError("Forbidden: https://storage/b/lake\nno access")).problem is Problem.ACCESS


def test_not_found_means_a_missing_bucket_only_when_writing() -> None:
    assert diagnose(FileNotFoundError("b/lake/o"), writing=True).problem is Problem.NO_BUCKET
    assert diagnose(FileNotFoundError("b/lake/o")).kind is Kind.OTHER
    assert diagnose(ValueError("bad")).kind is Kind.OTHER


# -- the retry loop --------------------------------------------------------------------------


class Flaky:
    """A request that fails with ``errors`` in turn, then returns what the root is."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.roots: list[object] = []

    def __call__(self, root: object) -> object:
        self.roots.append(root)
        if self.errors:
            raise self.errors.pop(0)
        return root


def _counting_root(tmp_path: Path, **kwargs: object) -> LakeRoot:
    opened: list[Path] = []

    def open_root() -> Path:
        opened.append(tmp_path / f"open-{len(opened)}")
        return opened[-1]

    return LakeRoot(open_root, url="s3://lake/bronze", conn_id="lake_s3", policy=FAST, **kwargs)  # type: ignore[arg-type]


def test_transient_failures_are_retried_with_a_root_opened_afresh_each_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _counting_root(tmp_path)
    request = Flaky(ConnectionResetError(104, "Connection reset by peer"), _client_error("ExpiredToken", 400))
    with caplog.at_level(logging.WARNING, logger="tributary.lake_io"):
        result = root.run("upload part-0.parquet", request, writing=True)
    assert result == tmp_path / "open-2"
    assert request.roots == [tmp_path / "open-0", tmp_path / "open-1", tmp_path / "open-2"], (
        "a new root per attempt"
    )
    assert (root.opened, root.retries) == (3, 2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "attempt 1 of 4 failed (transient: ConnectionResetError" in lines[0]
    assert "attempt 2 of 4 failed (expired credentials: HTTP 400 ExpiredToken)" in lines[1]
    assert all("fresh credentials from connection 'lake_s3'" in line for line in lines)


def test_a_permanent_failure_fails_at_once_naming_the_connection(tmp_path: Path) -> None:
    root = _counting_root(tmp_path)
    request = Flaky(_client_error("InvalidAccessKeyId", 403))
    with pytest.raises(
        LakeAccessError, match=r"credentials rejected .*connection 'lake_s3'.*access key id"
    ) as caught:
        root.run("upload part-0.parquet", request, writing=True)
    assert caught.value.permanent
    assert len(request.roots) == 1 and root.retries == 0


def test_retries_end_with_a_transient_error_that_airflow_may_retry(tmp_path: Path) -> None:
    root = _counting_root(tmp_path)
    request = Flaky(*[ConnectionResetError(104, "reset")] * 10)
    with pytest.raises(LakeUnavailableError, match="still failing after 4 attempt") as caught:
        root.run("write _SUCCESS", request, writing=True)
    assert not caught.value.permanent
    assert len(request.roots) == 4


def test_other_failures_reach_the_caller_unchanged(tmp_path: Path) -> None:
    root = _counting_root(tmp_path)
    with pytest.raises(FileNotFoundError):
        root.run("read _manifest.json", Flaky(FileNotFoundError("_manifest.json")))
    assert root.retries == 0


def test_a_plain_local_root_is_not_reopened(tmp_path: Path) -> None:
    root = LakeRoot.fixed(tmp_path, policy=FAST)
    request = Flaky(TimeoutError("slow disk"))
    assert root.run("list", request) == tmp_path
    assert request.roots == [tmp_path, tmp_path] and root.opened == 1
    denied = Flaky(PermissionError(13, "Permission denied"))
    with pytest.raises(LakeAccessError, match="not writable by this process"):
        root.run("upload part-0.parquet", denied, writing=True)
