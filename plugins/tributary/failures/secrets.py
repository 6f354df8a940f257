"""Keep credentials out of every message Tributary writes.

Airflow's secrets masker hides a connection's password in task logs once the task has fetched
the connection. Tributary's messages travel further -- exceptions raised to callers outside a
task, the CLI, processes the masker does not run in -- so they are masked where they are made:
the password and the extra's sensitive values, as written and URL-encoded, whatever follows
``password=`` in a DSN, and whatever sits between ``:`` and ``@`` in a URI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

# the names Airflow's masker treats as sensitive in a connection's extra, and a few more
SENSITIVE_KEYS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "credential",
    "keyfile_dict",
    "account_key",
    "connection_string",
    "scram_client_key",
    "scram_server_key",
)

# shorter values would blank out ordinary words of a message; Airflow's masker skips < 5 too
MIN_SECRET_LENGTH = 3

_DSN_SECRET = re.compile(
    r"(?i)\b(sslpassword|password|passwd|pwd|token|secret)(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s;&,]+)"
)
_URI_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*):[^\s@/]+@")


def sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE_KEYS)


def secrets_of(password: str | None, extra: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The values to mask for a connection: its password and the extra's sensitive values."""
    found: list[str] = [password] if password else []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, key)
        elif value is not None and not isinstance(value, bool) and sensitive(key):
            found.append(str(value))

    walk(extra or {})
    return tuple(dict.fromkeys(s for s in found if len(s) >= MIN_SECRET_LENGTH))


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, and anything shaped like a credential, replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        for form in dict.fromkeys((secret, quote(secret, safe=""), quote_plus(secret))):
            text = text.replace(form, MASK)
    text = _DSN_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _URI_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
