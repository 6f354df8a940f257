"""S3 for tests: moto's HTTP server on 127.0.0.1 and an Airflow ``aws`` connection to it.

The server runs in a thread of the test process (``ThreadedMotoServer``); Tributary talks to it
over HTTP through the Amazon provider's filesystem, exactly as it would to S3.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.pg import free_port

ACCESS_KEY = "tributary-test-key"
SECRET_KEY = "tributary-test-secret"
REGION = "us-east-1"
_users = itertools.count(1)


@dataclass
class MotoS3:
    """A running moto server: its endpoint and a boto3 client to arrange and inspect buckets."""

    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every key under ``prefix`` with its size."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def _reset_auth(self, count: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=count.encode(),
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    @contextlib.contextmanager
    def iam_enforced(self, bucket: str) -> Iterator[dict[str, str]]:
        """Inside the block moto checks every request's signature and IAM policy, like S3.

        Yields the keys (``login``, ``password``) of a new IAM user allowed everything on
        ``bucket`` and nothing else.
        """
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        user = f"lake-writer-{next(_users)}"
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        iam.put_user_policy(UserName=user, PolicyName="lake", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self._reset_auth("0")
        try:
            yield {"login": key["AccessKeyId"], "password": key["SecretAccessKey"]}
        finally:
            self._reset_auth("inf")

    def connection_json(
        self,
        *,
        endpoint: str | None = None,
        login: str = ACCESS_KEY,
        password: str = SECRET_KEY,
        max_attempts: int | None = None,
    ) -> str:
        """An ``aws`` connection to this server (or to ``endpoint``, e.g. a fault proxy before it).

        ``max_attempts`` sets botocore's own retries (1 = none), so that faults reach Tributary's.
        """
        extra: dict[str, Any] = {"endpoint_url": endpoint or self.endpoint, "region_name": REGION}
        if max_attempts is not None:
            extra["config_kwargs"] = {
                "retries": {"max_attempts": max_attempts, "mode": "standard"},
                "connect_timeout": 2,
                "read_timeout": 5,
            }
        return json.dumps({"conn_type": "aws", "login": login, "password": password, "extra": extra})


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 over HTTP on 127.0.0.1 and a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoS3(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
