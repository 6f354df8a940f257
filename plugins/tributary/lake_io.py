"""Lake I/O that survives dropped connections and expired tokens, and fails at once when no retry
can help.

Every request the commit protocol makes to the lake goes through :meth:`LakeRoot.run`: one
upload, one listing, one delete. A transient failure (connection reset, timeout, HTTP 5xx,
throttling, an expired token) is retried in place with exponential backoff and jitter, and before
each retry the root is opened again, so the filesystem and its credentials are rebuilt from the
connection: a token that expired or a secret that was rotated heals. The parts are staged on local
disk first, so a retry re-sends one file; nothing is re-extracted. A permanent failure (no such
bucket, access denied, rejected credentials) fails at once with a message that names the
connection and what to fix.

No Airflow import here: the Airflow adapter (:mod:`tributary.hooks.lake`) passes ``open_root``, a
callable that builds a fresh root path each time it is called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import tenacity

from tributary.errors import LakeError, TributaryError

log = logging.getLogger(__name__)

T = TypeVar("T")


class LakeAccessError(LakeError):
    """The lake refused a request for a reason no retry can fix: missing bucket, access denied,
    rejected or missing credentials. The message says which setting to change."""

    permanent = True


class LakeUnavailableError(LakeError):
    """The lake kept failing transiently through every in-place retry. Not permanent: the task's
    own retries (Airflow's) may still succeed later."""


class Kind(Enum):
    TRANSIENT = "transient"  # retry as is (after rebuilding the filesystem)
    EXPIRED = "expired credentials"  # retry with credentials read again from the connection
    PERMANENT = "permanent"  # fail at once
    OTHER = "other"  # not a storage failure we know: let the caller see it unchanged


class Problem(Enum):
    """What a permanent failure means for the user: it picks the advice in the message."""

    NO_BUCKET = "no such bucket"
    ACCESS = "access denied"
    DENIED = "access denied or credentials rejected"
    CREDENTIALS = "credentials rejected"
    NO_CREDENTIALS = "no credentials"
    LOCATION = "wrong region or endpoint"


@dataclass(frozen=True)
class Diagnosis:
    kind: Kind
    reason: str
    problem: Problem | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in (Kind.TRANSIENT, Kind.EXPIRED)


# S3 error codes (botocore ClientError.response["Error"]["Code"]).
_S3_PERMANENT = {
    "NoSuchBucket": Problem.NO_BUCKET,
    "AccessDenied": Problem.ACCESS,
    "AllAccessDisabled": Problem.ACCESS,
    "AccountProblem": Problem.ACCESS,
    "InvalidPayer": Problem.ACCESS,
    "NotSignedUp": Problem.ACCESS,
    "InvalidObjectState": Problem.ACCESS,
    "InvalidAccessKeyId": Problem.CREDENTIALS,
    "SignatureDoesNotMatch": Problem.CREDENTIALS,
    "InvalidSecurity": Problem.CREDENTIALS,
    "InvalidToken": Problem.CREDENTIALS,
    "InvalidClientTokenId": Problem.CREDENTIALS,
    "UnrecognizedClientException": Problem.CREDENTIALS,
    "IncompleteSignature": Problem.CREDENTIALS,
    "MissingSecurityHeader": Problem.CREDENTIALS,
    "AuthorizationHeaderMalformed": Problem.LOCATION,
    "PermanentRedirect": Problem.LOCATION,
    "IllegalLocationConstraintException": Problem.LOCATION,
    "InvalidBucketName": Problem.NO_BUCKET,
}
_S3_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_S3_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequests",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "OperationAborted",
    "BadDigest",
    "IncompleteBody",
    "XAmzContentSHA256Mismatch",
}
# Exception class names of the storage libraries (botocore, aiohttp, requests, urllib3, fsspec,
# gcsfs, google-auth), matched by name so that the core imports none of them.
_TRANSIENT_NAMES = {
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "HTTPClientError",
    "ProxyConnectionError",
    "ResponseStreamingError",
    "IncompleteReadError",
    "IncompleteRead",
    "ProtocolError",
    "RemoteDisconnected",
    "ClientConnectionError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ClientOSError",
    "ClientPayloadError",
    "ServerTimeoutError",
    "FSTimeoutError",
    "ChunkedEncodingError",
    "ReadTimeout",
    "ConnectionError",  # requests, not the builtin
    "Timeout",
    "ConnectTimeout",
    "ProxyError",
    "ChecksumError",
    "TransportError",
}
_EXPIRED_NAMES = {"RefreshError", "TokenRetrievalError", "CredentialRetrievalError"}
_PERMANENT_NAMES = {
    "NoCredentialsError": Problem.NO_CREDENTIALS,
    "DefaultCredentialsError": Problem.NO_CREDENTIALS,
    "PartialCredentialsError": Problem.CREDENTIALS,
    "InvalidRegionError": Problem.LOCATION,
}
_RATE_LIMITED = ("ratelimitexceeded", "rate limit", "slowdown", "reduce your request rate")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, outermost first (the libraries wrap the HTTP error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _from_http(exc: BaseException, writing: bool) -> Diagnosis | None:
    """What the HTTP status and the store's error code say, when the exception carries them."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:  # botocore ClientError
        return _from_botocore(exc, response, writing)
    code = getattr(exc, "code", None)  # gcsfs HttpError
    if isinstance(code, int) and type(exc).__name__ == "HttpError":
        return _from_gcsfs(exc, code, writing)
    return None


def _from_botocore(exc: BaseException, response: dict[str, Any], writing: bool) -> Diagnosis | None:
    code = str(response.get("Error", {}).get("Code") or "")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    reason = f"HTTP {status} {code}".strip() if status else code
    operation = str(getattr(exc, "operation_name", "") or "")
    if code in _S3_PERMANENT:
        return Diagnosis(Kind.PERMANENT, reason, _S3_PERMANENT[code])
    if code in _S3_EXPIRED:
        return Diagnosis(Kind.EXPIRED, reason)
    if code in _S3_TRANSIENT or status == 429 or status >= 500:
        return Diagnosis(Kind.TRANSIENT, reason)
    if status == 400 and code == "400" and operation.startswith("Head"):
        # A HEAD response has no body, so no error code: S3 answers an expired token to a
        # HeadObject with a bare 400 ("Bad Request"). Retry with credentials read again.
        return Diagnosis(Kind.EXPIRED, f"HTTP 400 on {operation} without an error code")
    if status == 403:
        if code == "403":  # no error body (a HEAD): denied, or a key the store does not know
            return Diagnosis(Kind.PERMANENT, f"HTTP 403 on {operation or 'a request'}", Problem.DENIED)
        return Diagnosis(Kind.PERMANENT, reason, Problem.ACCESS)
    if status == 401:
        return Diagnosis(Kind.PERMANENT, reason, Problem.CREDENTIALS)
    if status == 404 and writing:
        return Diagnosis(Kind.PERMANENT, reason, Problem.NO_BUCKET)
    return None


def _from_gcsfs(exc: BaseException, code: int, writing: bool) -> Diagnosis | None:
    message = str(getattr(exc, "message", "") or exc)
    reason = f"HTTP {code} {message}".strip()[:200]
    if code in (408, 429) or code >= 500:
        return Diagnosis(Kind.TRANSIENT, reason)
    if code == 401:
        return Diagnosis(Kind.EXPIRED, reason)
    if code == 403:
        if any(marker in message.lower() for marker in _RATE_LIMITED):
            return Diagnosis(Kind.TRANSIENT, reason)
        return Diagnosis(Kind.PERMANENT, reason, Problem.ACCESS)
    if code == 404 and writing:
        return Diagnosis(Kind.PERMANENT, reason, Problem.NO_BUCKET)
    return None


def _from_type(exc: BaseException, writing: bool) -> Diagnosis | None:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TributaryError):
        return Diagnosis(Kind.PERMANENT if exc.permanent else Kind.OTHER, str(exc))
    if names & _EXPIRED_NAMES:
        return Diagnosis(Kind.EXPIRED, _short(exc))
    for name, problem in _PERMANENT_NAMES.items():
        if name in names:
            return Diagnosis(Kind.PERMANENT, _short(exc), problem)
    if names & _TRANSIENT_NAMES or isinstance(exc, ConnectionError | TimeoutError):
        return Diagnosis(Kind.TRANSIENT, _short(exc))
    if isinstance(exc, PermissionError):
        return Diagnosis(Kind.PERMANENT, _short(exc), Problem.ACCESS)
    if type(exc) is OSError and str(exc).startswith("Forbidden"):  # gcsfs: HTTP 403
        if any(marker in str(exc).lower() for marker in _RATE_LIMITED):
            return Diagnosis(Kind.TRANSIENT, _short(exc))
        return Diagnosis(Kind.PERMANENT, _short(exc), Problem.ACCESS)
    if isinstance(exc, FileNotFoundError) and writing:
        # Writing an object never finds "no such file" unless its bucket is missing.
        return Diagnosis(Kind.PERMANENT, _short(exc), Problem.NO_BUCKET)
    return None


def diagnose(exc: BaseException, *, writing: bool = False) -> Diagnosis:
    """Classify a failed lake request: retry it, refresh credentials and retry, or give up.

    The HTTP status or the store's error code, found anywhere in the chain of causes, decides
    first (s3fs raises ``PermissionError`` for both ``AccessDenied`` and ``ExpiredToken``: only the
    botocore error under it tells them apart); then the exception types. ``writing`` says the
    request created an object, so that "not found" means a missing bucket.
    """
    for link in _chain(exc):
        found = _from_http(link, writing)
        if found is not None:
            return found
    for link in _chain(exc):
        found = _from_type(link, writing)
        if found is not None:
            return found
    return Diagnosis(Kind.OTHER, _short(exc))


@dataclass(frozen=True)
class RetryPolicy:
    """In-place retries of one lake request: ``attempts`` in all, waiting
    ``min(initial * 2**n + uniform(0, jitter), maximum)`` seconds before retry ``n``."""

    attempts: int = 6
    initial: float = 1.0
    maximum: float = 30.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith(("file://", "local://"))


class LakeRoot:
    """The root of a lake that can be opened again, with fresh credentials, when a request fails.

    :param open_root: builds the root path (``pathlib``-like) from scratch on each call; the
        Airflow adapter rebuilds the filesystem from the connection each time
    :param url: the lake URL, for messages
    :param conn_id: the connection whose credentials ``open_root`` uses, for messages
    :param policy: the in-place retries of each request
    :param reopen: whether a retry opens the root again (a fixed local path need not)
    """

    def __init__(
        self,
        open_root: Callable[[], Any],
        *,
        url: str,
        conn_id: str | None = None,
        policy: RetryPolicy | None = None,
        reopen: bool = True,
    ) -> None:
        self._open_root = open_root
        self.url = url
        self.conn_id = conn_id
        self.policy = policy or RetryPolicy()
        self._reopen = reopen
        self._path: Any = None
        self.opened = 0  # how many times the root was built: 1 + the retries that rebuilt it
        self.retries = 0  # in-place retries so far, all requests together

    @classmethod
    def fixed(cls, path: Any, *, policy: RetryPolicy | None = None) -> LakeRoot:
        """A root that is a plain path (``pathlib.Path`` in the core's tests): nothing to reopen."""
        if isinstance(path, LakeRoot):
            return path
        return cls(lambda: path, url=str(path), policy=policy, reopen=False)

    def __repr__(self) -> str:
        return f"LakeRoot({self.url!r}, conn_id={self.conn_id!r})"

    def __str__(self) -> str:
        return self.url

    @property
    def label(self) -> str:
        return f"{self.url} (connection {self.conn_id!r})" if self.conn_id else self.url

    @property
    def path(self) -> Any:
        """The current root path, opened on first use (inside the retries, not at construction)."""
        if self._path is None:
            self.run("open the lake", lambda root: root)
        return self._path

    def __truediv__(self, other: str) -> Any:
        return self.path / other

    def _open(self) -> Any:
        self._path = self._open_root()
        self.opened += 1
        return self._path

    def run(self, what: str, request: Callable[[Any], T], *, writing: bool = False) -> T:
        """Call ``request(root)``, retrying transient failures in place with a freshly opened
        root, and turning permanent ones into :class:`LakeAccessError` at once.

        Failures that are not storage failures (``FileNotFoundError`` of a read, a ``ValueError``)
        reach the caller unchanged on the first attempt.
        """
        policy = self.policy
        attempt = 0
        started = time.monotonic()

        def one_attempt() -> T:
            nonlocal attempt
            attempt += 1
            if self._path is None or (attempt > 1 and self._reopen):
                self._open()
            return request(self._path)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential_jitter(
                initial=policy.initial, max=policy.maximum, jitter=policy.jitter
            ),
            retry=tenacity.retry_if_exception(lambda e: diagnose(e, writing=writing).retryable),
            before_sleep=partial(self._log_retry, what, writing),
            reraise=True,
        )
        try:
            return retrying(one_attempt)
        except TributaryError:
            raise
        except Exception as exc:
            found = diagnose(exc, writing=writing)
            if found.kind is Kind.PERMANENT:
                raise LakeAccessError(self._advice(what, found)) from exc
            if found.retryable:
                raise self._unavailable(what, found, attempt, time.monotonic() - started) from exc
            raise

    def _log_retry(self, what: str, writing: bool, state: tenacity.RetryCallState) -> None:
        """Count an in-place retry and say in the task's log why, when, and with what root."""
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        found = diagnose(exc, writing=writing) if exc else Diagnosis(Kind.OTHER, "?")
        wait = state.next_action.sleep if state.next_action else 0.0
        fresh = (
            f"fresh credentials from connection {self.conn_id!r}"
            if self.conn_id
            else "a freshly opened lake root"
        )
        log.warning(
            "%s: attempt %d of %d failed (%s: %s); retrying in %.1fs with %s",
            what,
            state.attempt_number,
            self.policy.attempts,
            found.kind.value,
            found.reason,
            wait,
            fresh if self._reopen else "the same lake root",
        )

    def _unavailable(
        self, what: str, found: Diagnosis, attempts: int, seconds: float
    ) -> LakeUnavailableError:
        return LakeUnavailableError(
            f"{what}: still failing after {attempts} attempt(s) over {seconds:.0f}s "
            f"({found.kind.value}: {found.reason}); the lake {self.label} is unreachable or "
            "overloaded. The task's retries will try again; if it persists, check the network path "
            "to the store" + (" and the credentials of the connection" if self.conn_id else "")
        )

    def _advice(self, what: str, found: Diagnosis) -> str:
        who = (
            f"connection {self.conn_id!r}"
            if self.conn_id
            else "the default credentials (lake.conn_id is not set)"
        )
        head = f"{what} failed: {found.problem.value if found.problem else 'refused'} ({found.reason})."
        if _is_local(self.url):
            return (
                f"{head} The lake folder {self.url} is not writable by this process: fix its "
                "permissions, or set lake.url to a folder the Airflow workers may write"
            )
        problem = found.problem
        if problem is Problem.NO_BUCKET:
            fix = (
                f"The bucket of {self.url} does not exist, or {who} cannot see it: fix lake.url "
                "in the pipeline config, or create the bucket (Tributary never creates buckets)"
            )
        elif problem is Problem.ACCESS:
            fix = (
                f"{who} is not allowed to do this on {self.url}: grant it list, read, write and "
                "delete on that prefix (S3: s3:ListBucket, s3:GetObject, s3:PutObject, "
                "s3:DeleteObject; GCS: roles/storage.objectAdmin on the bucket), or set "
                "lake.conn_id to a connection that has them"
            )
        elif problem is Problem.DENIED:
            fix = (
                f"the store refused {who} without saying why (an answer to a HEAD request has no "
                "body): check that the connection's access key exists and its secret is right, "
                f"and that it may list, read, write and delete under {self.url}"
            )
        elif problem is Problem.CREDENTIALS:
            fix = (
                f"the store rejects the credentials of {who}: fix them in that Airflow "
                "connection (aws: login = access key id and password = secret access key, or "
                "role_arn in the extra; google_cloud_platform: keyfile_dict, key_path or "
                "credential_config_file in the extra)"
            )
        elif problem is Problem.NO_CREDENTIALS:
            fix = (
                f"{who} provides no credentials: add them to the connection, or set lake.conn_id "
                "to a connection that has them"
            )
        elif problem is Problem.LOCATION:
            fix = (
                f"the request went to the wrong region or endpoint: set region_name (or "
                f"endpoint_url) in the extra of {who}, or fix the bucket name in lake.url"
            )
        else:
            fix = f"check lake.url and {who}"
        return f"{head} {fix}."
