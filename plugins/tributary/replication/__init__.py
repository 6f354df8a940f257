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

from tributary.replication.commit import commit_table
from tributary.replication.extract import extract_table
from tributary.replication.partition import table_partition
from tributary.replication.verify import verify_table

__all__ = ["commit_table", "extract_table", "table_partition", "verify_table"]
