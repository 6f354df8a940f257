"""LakePartitionTrigger: the waiting of ``LakePartitionSensor``, in the triggerer.

The checks are the sensor's own (``tributary.lake.partition_states`` over a lake root opened from
the connection): they are synchronous fsspec calls, so each poke runs them in a worker thread
(``asyncio.to_thread``) and the triggerer's event loop never blocks. Each poke opens the root
afresh, so credentials are read from the connection again and no cached listing hides a new
``_SUCCESS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from tributary.errors import TributaryError
from tributary.lake import PartitionState, partition_states
from tributary.lake_io import RetryPolicy

log = logging.getLogger(__name__)

# A poke is one attempt per request: the next poke is the retry, with fresh credentials.
POKE_POLICY = RetryPolicy(attempts=1)


def check(
    lake_url: str, lake_conn_id: str | None, source: str, partitions: dict[str, str], *, bucket: bool
) -> dict[str, PartitionState]:
    """One poke: the state of every partition waited for (and, if ``bucket``, first make sure the
    lake's bucket exists, so that a typo in the URL fails instead of waiting until the timeout)."""
    from tributary.hooks.lake import check_bucket, lake_root

    root = lake_root(lake_url, lake_conn_id, policy=POKE_POLICY)
    states = partition_states(root, source, partitions)
    if bucket and not any(s.committed for s in states.values()):
        check_bucket(root)
    return states


def describe(states: dict[str, PartitionState]) -> dict[str, Any]:
    """What the sensor returns (XCom): per table, the committed batch, its rows, its path and its
    parts (``files``): what a downstream task reads, never ``<path>/*.parquet``."""
    return {
        t: {"path": s.path, "batch_id": s.batch_id, "rows": s.rows, "files": s.files}
        for t, s in states.items()
    }


def incomplete(states: dict[str, PartitionState]) -> list[str]:
    """Lines for partitions that have ``_SUCCESS`` but whose manifest is not complete."""
    return [f"{s.path}: " + "; ".join(s.problems) for s in states.values() if s.committed and s.problems]


def report(states: dict[str, PartitionState], logger: logging.Logger) -> None:
    """Log what a poke that did not pass found: what is not committed, what is incomplete."""
    for state in states.values():
        if state.committed and state.problems:
            logger.warning(
                "%s has _SUCCESS but its manifest is not complete; waiting (a re-run may be "
                "repairing it): %s",
                state.path,
                "; ".join(state.problems),
            )
    pending = [s.path for s in states.values() if not s.committed]
    if pending:
        logger.info("Waiting for _SUCCESS of %s", ", ".join(pending))


class LakePartitionTrigger(BaseTrigger):
    """Fire when every partition waited for is committed and complete.

    :param lake_url: the lake root (file://, s3:// or gs://)
    :param lake_conn_id: the Airflow connection of the lake, if any
    :param source: the source name (the first folder under the lake root)
    :param partitions: ``{table: "key=value"}``, e.g. ``{"sales": "month=2025-10"}``
    :param poke_interval: seconds between pokes
    :param fail_on_incomplete: fire an error instead of waiting on a ``_SUCCESS`` whose manifest
        lists a missing file or one of another size
    """

    def __init__(
        self,
        *,
        lake_url: str,
        source: str,
        partitions: dict[str, str],
        lake_conn_id: str | None = None,
        poke_interval: float = 60.0,
        fail_on_incomplete: bool = False,
    ) -> None:
        super().__init__()
        self.lake_url = lake_url
        self.lake_conn_id = lake_conn_id
        self.source = source
        self.partitions = dict(partitions)
        self.poke_interval = float(poke_interval)
        self.fail_on_incomplete = fail_on_incomplete

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "lake_url": self.lake_url,
                "lake_conn_id": self.lake_conn_id,
                "source": self.source,
                "partitions": self.partitions,
                "poke_interval": self.poke_interval,
                "fail_on_incomplete": self.fail_on_incomplete,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        bucket_checked = False
        while True:
            try:
                states = await asyncio.to_thread(
                    check,
                    self.lake_url,
                    self.lake_conn_id,
                    self.source,
                    self.partitions,
                    bucket=not bucket_checked,
                )
                bucket_checked = True
            except TributaryError as exc:
                if exc.permanent:
                    yield TriggerEvent({"status": "error", "permanent": True, "message": str(exc)})
                    return
                log.warning("The lake did not answer this poke; waiting: %s", exc)
            except Exception as exc:  # noqa: BLE001 - any other failure ends the wait as an error event the task can report, not a dead trigger
                yield TriggerEvent(
                    {"status": "error", "permanent": False, "message": f"{type(exc).__name__}: {exc}"}
                )
                return
            else:
                if all(s.ready for s in states.values()):
                    yield TriggerEvent({"status": "success", "partitions": describe(states)})
                    return
                broken = incomplete(states)
                if broken and self.fail_on_incomplete:
                    message = "committed partition(s) with an incomplete manifest: " + " | ".join(broken)
                    yield TriggerEvent({"status": "error", "permanent": True, "message": message})
                    return
                report(states, log)
            await asyncio.sleep(self.poke_interval)
