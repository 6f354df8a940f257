"""The dbt profile, from an Airflow connection: Cosmos's profile mapping for Tributary's warehouse.

The connection (default ``tributary_warehouse``) has conn type ``duckdb`` and the ``.duckdb`` file as
its host; a relative path is taken from the project root, and no host means
``data/warehouse.duckdb``. Its extra may set ``threads``, ``settings`` (DuckDB pragmas), ``secrets``
(DuckDB secrets, e.g. a GCS HMAC key, a postgres or mysql password, an Azure client secret) and
``connect_attempts``. The lakes' own connections give DuckDB its S3 credentials. Every sensitive
value -- a secret's or a setting's whose key names a password, secret, token or key -- reaches
dbt as an environment variable (``{{ env_var(...) }}`` in the profile), never in the profile text
Cosmos writes and logs; and that file is the worker user's alone (``PrivateProfileConfig``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos.config import ProfileConfig
from cosmos.profiles.base import BaseProfileMapping

from tributary.failures.secrets import sensitive
from tributary.hooks.warehouse import WAREHOUSE_CONN_ID, warehouse_path
from tributary.transform.project import Lake

# sensitive beyond the words of ``tributary.failures.secrets``: an access key's id travels with it
_ALSO_SECRET = ("key_id",)


def _secret_key(key: str) -> bool:
    return sensitive(key) or key.lower() in _ALSO_SECRET


def _env_name(*parts: str) -> str:
    return "TRIBUTARY_DUCKDB_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in parts)


class TributaryDuckDBProfileMapping(BaseProfileMapping):
    """Maps the warehouse's Airflow connection (type ``duckdb``) and the lakes to a dbt-duckdb profile.

    :param conn_id: the warehouse connection: host = the ``.duckdb`` file
    :param lakes: the lakes the dbt project reads; remote ones get httpfs and their credentials
    :param profile_args: profile keys that override the connection's
    """

    airflow_connection_type: str = "duckdb"
    dbt_profile_type: str = "duckdb"
    required_fields = ["path"]  # noqa: RUF012 - Cosmos's interface
    airflow_param_mapping = {"path": "host"}  # noqa: RUF012

    def __init__(
        self,
        conn_id: str = WAREHOUSE_CONN_ID,
        *,
        lakes: list[Lake] | tuple[Lake, ...] = (),
        profile_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id, profile_args=profile_args, **kwargs)
        self.lakes = tuple(lakes)

    @property
    def remote_lakes(self) -> list[Lake]:
        return [lake for lake in self.lakes if lake.scheme != "file"]

    def _secrets(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """DuckDB secrets as (profile entry with env_var() references, environment values)."""
        found: list[tuple[dict[str, Any], dict[str, str]]] = []
        for index, given in enumerate(self.conn.extra_dejson.get("secrets") or []):
            found.append(self._by_env(dict(given), f"EXTRA{index}"))
        for lake in self.remote_lakes:
            if lake.scheme == "s3" and lake.conn_id:
                found.append(self._by_env(_s3_secret(lake), lake.source))
        return found

    @staticmethod
    def _by_env(secret: dict[str, Any], label: str) -> tuple[dict[str, Any], dict[str, str]]:
        env: dict[str, str] = {}
        for key, value in secret.items():
            scalar = not isinstance(value, bool | dict | list)
            if _secret_key(str(key)) and scalar and value not in (None, ""):
                name = _env_name(label, str(key))
                env[name] = str(value)
                secret[key] = f"{{{{ env_var('{name}') }}}}"
        return secret, env

    def _settings(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The DuckDB settings of the extra, a sensitive one (``s3_secret_access_key``) by env var."""
        return self._by_env(dict(self.conn.extra_dejson.get("settings") or {}), "SETTING")

    @property
    def profile(self) -> dict[str, Any]:
        extra = self.conn.extra_dejson
        path = warehouse_path(self.conn.host)
        # DuckDB creates the file, not its folder
        path.parent.mkdir(parents=True, exist_ok=True)
        profile: dict[str, Any] = {
            **self.mapped_params,
            "path": str(path),
            "threads": int(extra.get("threads") or 1),
            # release the file when dbt is done: the next task (or a person) can open it
            "keep_open": False,
        }
        if extra.get("settings"):
            profile["settings"] = self._settings()[0]
        if extra.get("connect_attempts"):
            profile["retries"] = {
                "connect_attempts": int(extra["connect_attempts"]),
                "retryable_exceptions": ["IOException"],
            }
        if self.remote_lakes:
            profile["extensions"] = ["httpfs"]
            profile["plugins"] = [{"module": "tributary.transform.duckdb_plugin"}]
        secrets = [entry for entry, _ in self._secrets()]
        if secrets:
            profile["secrets"] = secrets
        return self.filter_null({**profile, **self.profile_args})

    @property
    def env_vars(self) -> dict[str, str]:
        env = dict(super().env_vars)
        for _, values in [*self._secrets(), self._settings()]:
            env.update(values)
        return env

    @property
    def mock_profile(self) -> dict[str, Any]:
        return {"type": "duckdb", "path": ":memory:"}


def _s3_secret(lake: Lake) -> dict[str, Any]:
    """A DuckDB S3 secret from the lake's Airflow ``aws`` connection (keys, region, endpoint)."""
    from tributary.hooks.lake import s3_credentials

    credentials = s3_credentials(lake.conn_id)
    bucket = lake.url.split("://", 1)[1].split("/", 1)[0]
    secret: dict[str, Any] = {
        "type": "s3",
        "name": f"lake_{lake.source}",
        "scope": f"s3://{bucket}",
        "key_id": credentials.access_key,
        "secret": credentials.secret_key,
        "session_token": credentials.token,
        "region": credentials.region or "us-east-1",
    }
    if credentials.endpoint:
        scheme, _, host = credentials.endpoint.partition("://")
        secret.update({"endpoint": host.rstrip("/"), "url_style": "path", "use_ssl": scheme == "https"})
    return {k: v for k, v in secret.items() if v is not None}


@dataclass
class PrivateProfileConfig(ProfileConfig):
    """Cosmos's ``ProfileConfig``, whose profiles.yml -- a temporary one or the one in Cosmos's
    profile cache -- only the worker's user may read: file 0600, its folder 0700. The profile holds
    no secret (they travel as environment variables); what it does hold, paths and hosts, is no
    one else's business either."""

    @contextlib.contextmanager
    def ensure_profile(
        self, desired_profile_path: Path | None = None, use_mock_values: bool = False
    ) -> Iterator[tuple[Path, dict[str, str]]]:
        with super().ensure_profile(desired_profile_path, use_mock_values) as (path, env):
            if not self.profiles_yml_filepath:  # a file Cosmos wrote, not one the user gave
                private(Path(path))
            yield path, env


def private(profile: Path) -> None:
    """Make the written profile file and its folder its owner's alone."""
    os.chmod(profile, 0o600)
    os.chmod(profile.parent, 0o700)
