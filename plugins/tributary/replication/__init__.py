"""Database tables into the lake: extract, verify and commit one table's partition for one run,
the work of a task group.

Plain functions over a source reader and a lake root; the Airflow operators only build those two
from connection ids and call these. ``partition`` places a run's batch (the window's partition,
or a watermark table's ``batch=<id>``), ``watermark`` plans a watermark run from the last
committed manifest, ``extract``, ``verify`` and ``commit`` are the three steps. What every
source shares (run info, batch ids, the fenced commit, the XCom summary) is in
:mod:`tributary.batches`. No Airflow imports here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tributary.replication.commit import commit_table
    from tributary.replication.extract import extract_table
    from tributary.replication.partition import table_partition
    from tributary.replication.verify import verify_table

__all__ = ["commit_table", "extract_table", "table_partition", "verify_table"]

# Each step's module is imported when its function is first asked for: a commit task loads
# neither the readers nor pyarrow, an extract loads what it writes with.
_MODULES = {
    "commit_table": "commit",
    "extract_table": "extract",
    "table_partition": "partition",
    "verify_table": "verify",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
