"""A dbt-duckdb plugin that installs DuckDB's httpfs extension from its PyPI package.

DuckDB reads s3:// and gs:// through the httpfs extension, which it would otherwise download from
the internet the first time; ``duckdb-extension-httpfs`` ships the same file for the pinned DuckDB
version. The profile lists this plugin (and ``extensions: [httpfs]``) only when a lake is remote.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin


def install_httpfs() -> None:
    """Install httpfs into DuckDB's extension directory from ``duckdb-extension-httpfs``; a DuckDB
    that can download extensions installs it itself, so a missing package is not an error here."""
    import duckdb

    try:
        from duckdb_extensions import import_extension
    except ImportError:
        return
    con = duckdb.connect()
    try:
        import_extension("httpfs", con=con)
    except ModuleNotFoundError:
        return  # duckdb-extension-httpfs is not installed: DuckDB will try to download it
    finally:
        con.close()


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # before dbt-duckdb connects and runs `INSTALL httpfs; LOAD httpfs` and CREATE SECRET
        install_httpfs()
