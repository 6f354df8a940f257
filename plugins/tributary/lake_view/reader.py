"""What the Lake view shows, read from the lake and kept for a short while.

The pipeline configs say which sources, tables and lakes there are. A local lake's tables are read
by :mod:`tributary.lake_scan` (one listing of the table's folder, two small files per partition
by plain paths); an object store's are listed and read with
:func:`tributary.lake_status.read_partitions` through the lake hook, with the lake's Airflow
connection, a few partitions per request on ``workers`` threads. What was read is kept ``ttl``
seconds, per table; :meth:`LakeReader.start` reads it all on a background thread and again
ahead of expiry, so that a page waits for the lake only for a table still being read.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tributary.config import FileTableConfig, PipelineConfig, TableConfig, load_all, pipelines_dir
from tributary.errors import ConfigError, TributaryError
from tributary.hooks.lake import LOCAL, lake_root, protocol_of
from tributary.lake import Partition, list_partitions, path_segment
from tributary.lake_calendar import OK, Cell, calendar, counts
from tributary.lake_io import LakeRoot, RetryPolicy
from tributary.lake_scan import Stamp, partition_names, scan_partitions
from tributary.lake_status import (
    COMMITTED,
    COMMITTED_FAILED_CHECKS,
    PartitionStatus,
    in_parallel,
    partition_status,
    read_partitions,
)
from tributary.windows import window_containing

log = logging.getLogger(__name__)

# A page waits for the lake, so a failing request is retried once, briefly, not for minutes as
# a task's would be.
VIEW_POLICY = RetryPolicy(attempts=2, initial=0.2, maximum=1.0, jitter=0.2)

AnyTable = TableConfig | FileTableConfig


@dataclass
class TableView:
    """One table of a source: its partitions, its calendar strip, or why they could not be read."""

    config: AnyTable
    statuses: list[PartitionStatus] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    error: str | None = None
    # what a page made of this read of the table (its strip's HTML), kept as long as the read
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def committed(self) -> list[PartitionStatus]:
        return [s for s in self.statuses if s.state in (COMMITTED, COMMITTED_FAILED_CHECKS)]

    @property
    def rows(self) -> int:
        return sum(s.rows or 0 for s in self.committed)

    @property
    def bytes(self) -> int:
        return sum(s.bytes or 0 for s in self.committed)

    @property
    def latest(self) -> PartitionStatus | None:
        """The newest committed partition (by time of verification, else by name)."""
        committed = self.committed
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        return max(committed, key=lambda s: (s.verified_at or epoch, s.partition), default=None)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.cells)

    @property
    def complete(self) -> bool:
        return bool(self.cells) and all(cell.kind == OK for cell in self.cells)


@dataclass
class SourceView:
    config: PipelineConfig
    tables: list[TableView]

    @property
    def name(self) -> str:
        return self.config.source.name


@dataclass
class _Entry:
    expires: float  # on the reader's clock: read the table again from then on
    view: TableView
    redraw: dt.datetime  # draw the strip again from then on: the current window will be due
    read: float  # on the reader's clock: when it was read
    # a local table's partitions as scanned, with their files' stamps (the next scan reads the changed)
    stamps: dict[str, tuple[Stamp, PartitionStatus]] = field(default_factory=dict)


def _tabulate(
    config: PipelineConfig,
    table: AnyTable,
    statuses: list[PartitionStatus],
    error: str | None,
    now: dt.datetime,
) -> tuple[TableView, dt.datetime]:
    cells = calendar(table, config.schedule, config.start_date, config.end_date, statuses, now)
    return TableView(table, statuses, cells, error), window_containing(now, config.schedule).end


class LakeReader:
    """The configs and the lake's partitions, cached ``ttl`` seconds (``clock`` for tests)."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        ttl: float = 30.0,
        workers: int = 16,
        idle: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.ttl = ttl
        self.idle = idle
        self.workers = workers
        self.clock = clock
        self._lock = threading.Lock()
        self._configs: tuple[float, list[PipelineConfig], list[ConfigError]] | None = None
        self._tables: dict[tuple[str, str], _Entry] = {}
        self._reading: dict[tuple[str, str], threading.Event] = {}  # tables being read, by a thread
        self._roots: dict[tuple[str, str | None], LakeRoot] = {}
        self.reads = 0  # partitions read from the lake so far (the tests count them)
        self.warmed = threading.Event()  # set once the background thread has read every table
        self._asked = clock()  # when a page last asked for tables (refresh-ahead stops when idle)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- configs ------------------------------------------------------------------------------

    def configs(self) -> tuple[list[PipelineConfig], list[ConfigError]]:
        """The valid pipeline configs, and the errors of the others (shown on the page)."""
        with self._lock:
            if self._configs is None or self._configs[0] <= self.clock():
                found, errors = load_all(self.folder or pipelines_dir())
                configs = sorted((config for _, config in found), key=lambda c: c.source.name)
                self._configs = (self.clock() + self.ttl, configs, errors)
            return self._configs[1], self._configs[2]

    def config(self, source: str) -> PipelineConfig | None:
        return next((c for c in self.configs()[0] if c.source.name == source), None)

    def root(self, config: PipelineConfig) -> LakeRoot:
        """The lake of ``config``: through the lake hook (``ObjectStoragePath`` with the lake's
        connection) for an object store; a local lake as a plain path, which has no connection
        and whose path joins cost a tenth of ``ObjectStoragePath``'s (12,000 partitions a page)."""
        key = (config.lake.resolved_url(), config.lake.conn_id)
        with self._lock:
            if key not in self._roots:
                url, conn_id = key
                if protocol_of(url) in LOCAL:
                    local = Path(unquote(urlsplit(url).path))
                    self._roots[key] = LakeRoot.fixed(local, policy=VIEW_POLICY)
                else:
                    self._roots[key] = lake_root(url, conn_id, policy=VIEW_POLICY)
            return self._roots[key]

    # -- partitions ---------------------------------------------------------------------------

    def sources(self, configs: list[PipelineConfig], now: dt.datetime | None = None) -> list[SourceView]:
        """Every table of ``configs`` with its partitions and strip; tables whose cache entry
        has expired are read again first, all of them at once."""
        self._asked = self.clock()
        self._refresh([(config, table) for config in configs for table in config.tables])
        now = now or dt.datetime.now(dt.UTC)
        return [SourceView(config, [self._view(config, t, now) for t in config.tables]) for config in configs]

    def table(self, config: PipelineConfig, table: AnyTable, now: dt.datetime | None = None) -> TableView:
        """One table, each partition's whole manifest validated (its page shows all of it)."""
        self._asked = self.clock()
        self._refresh([(config, table)])
        now = now or dt.datetime.now(dt.UTC)
        view = self._view(config, table, now)
        statuses = [self._validated(s) for s in view.statuses]
        if any(new is not old for new, old in zip(statuses, view.statuses, strict=True)):
            with self._lock:
                entry = self._tables[(config.source.name, table.name)]
                entry.view, entry.redraw = _tabulate(config, table, statuses, view.error, now)
            view = entry.view
        return view

    def _validated(self, status: PartitionStatus) -> PartitionStatus:
        try:
            status.full()
        except ValueError as exc:  # pydantic's ValidationError: a manifest Tributary did not write
            problem = f"{type(exc).__name__}: {exc}"
            return PartitionStatus(status.partition, "unreadable", problems=[problem])
        return status

    def partition(self, config: PipelineConfig, table: AnyTable, key: str, value: str) -> PartitionStatus:
        """One partition read now (and its files' sizes checked against the manifest)."""
        return partition_status(Partition(self.root(config), config.source.name, table.name, key, value))

    # -- warm-up and refresh-ahead ------------------------------------------------------------

    def start(self) -> None:
        """Read every table on a background thread now, then again each ``ttl / 4`` seconds the
        tables read over ``ttl / 2`` ago, so that a page finds them read (refresh-ahead). A page
        asking for a table being read waits for that read; with no page asked for in ``idle``
        seconds the tables are left to expire (an object store is not read for nobody)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._keep_warm, name="lake-view-warm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _keep_warm(self) -> None:
        while True:
            try:
                self.refresh_ahead()
            except Exception:  # the thread must live on: the next round or a page reads again
                log.exception("Lake view: reading the lake ahead failed")
            self.warmed.set()
            if self._stop.wait(max(self.ttl / 4, 1.0)):
                return

    def refresh_ahead(self) -> None:
        """Read the tables never read, and those read over half the cache's lifetime ago, unless
        no page has asked for one in ``idle`` seconds."""
        tick = self.clock()
        if tick - self._asked > self.idle:
            return
        configs, _ = self.configs()
        self._refresh([(c, t) for c in configs for t in c.tables], due=tick - self.ttl / 2)

    def _view(self, config: PipelineConfig, table: AnyTable, now: dt.datetime) -> TableView:
        """The table as last read, its strip drawn again if a window has come due since."""
        entry = self._tables[(config.source.name, table.name)]
        if now >= entry.redraw:
            view = entry.view
            entry.view, entry.redraw = _tabulate(config, table, view.statuses, view.error, now)
        return entry.view

    def _refresh(self, wanted: list[tuple[PipelineConfig, AnyTable]], *, due: float | None = None) -> None:
        """Read again the tables of ``wanted`` whose entry has expired (or, with ``due``, was read
        before ``due``). A table another thread is reading is waited for, not read twice."""
        while True:
            tick = self.clock()
            with self._lock:
                mine, theirs = [], []
                for config, table in wanted:
                    key = (config.source.name, table.name)
                    entry = self._tables.get(key)
                    if key in self._reading:
                        if entry is None or entry.expires <= tick:
                            theirs.append(self._reading[key])
                    elif entry is None or entry.expires <= tick or (due is not None and entry.read < due):
                        self._reading[key] = threading.Event()
                        mine.append((config, table))
            if mine:
                try:
                    self._read_tables(mine)
                finally:
                    with self._lock:
                        for config, table in mine:
                            self._reading.pop((config.source.name, table.name)).set()
            if not theirs:
                return
            for event in theirs:
                event.wait()
            due = None  # what the others read is fresh: only a failed read of theirs is read again

    def _read_tables(self, stale: list[tuple[PipelineConfig, AnyTable]]) -> None:
        remote = [(c, t) for c, t in stale if self._local(c) is None]
        read = iter(self._read_remote(remote) if remote else [])
        found = [self._scan(c, t) if self._local(c) is not None else next(read) for c, t in stale]
        expires, now = self.clock() + self.ttl, dt.datetime.now(dt.UTC)
        with self._lock:
            for (config, table), (statuses, error, stamps) in zip(stale, found, strict=True):
                view, redraw = _tabulate(config, table, statuses, error, now)
                entry = _Entry(expires, view, redraw, expires - self.ttl, stamps)
                self._tables[(config.source.name, table.name)] = entry

    def _local(self, config: PipelineConfig) -> str | None:
        """The folder of a local lake (``None``: an object store's, read through the lake hook)."""
        url = config.lake.resolved_url()
        return unquote(urlsplit(url).path) if protocol_of(url) in LOCAL else None

    def _scan(self, config: PipelineConfig, table: AnyTable) -> tuple[list[PartitionStatus], str | None, Any]:
        """A local table, by :mod:`tributary.lake_scan`: only the partitions changed since the
        last scan are read (a partition it cannot summarize: as an object store's)."""
        folder = os.path.join(
            self._local(config) or "", path_segment(config.source.name), path_segment(table.name)
        )
        with self._lock:
            entry = self._tables.get((config.source.name, table.name))
        known = entry.stamps if entry is not None else {}
        try:
            names = partition_names(folder)
            scanned = scan_partitions(folder, names, known)
        except OSError as exc:
            log.warning("Lake view: cannot read %s.%s: %s", config.source.name, table.name, exc)
            return [], f"{type(exc).__name__}: {exc}", {}
        stamps, read = {}, 0
        for name, (stamp, status) in zip(names, scanned, strict=True):
            read += (seen := known.get(name)) is None or seen[0] != stamp
            stamps[name] = (stamp, status or self._read((config, table, name)))
        with self._lock:
            self.reads += read
        return [status for _, status in stamps.values()], None, stamps

    def _read_remote(
        self, stale: list[tuple[PipelineConfig, AnyTable]]
    ) -> list[tuple[list[PartitionStatus], str | None, Any]]:
        """Object stores' tables: listed, then read a few partitions per request on threads."""
        self._open_roots([c for c, _ in stale])
        listed = list(in_parallel(self._list, stale, self.workers))
        chunks = [
            (c, t, names[i : i + 4])
            for (c, t), (names, _) in zip(stale, listed, strict=True)
            for i in range(0, len(names), 4)
        ]
        read = list(in_parallel(self._read_chunk, chunks, self.workers))
        found: dict[tuple[str, str], list[PartitionStatus]] = {}
        for (config, table, _), statuses in zip(chunks, read, strict=True):
            found.setdefault((config.source.name, table.name), []).extend(statuses)
        with self._lock:
            self.reads += sum(len(names) for _, _, names in chunks)
        return [
            (found.get((c.source.name, t.name), []), error, {})
            for (c, t), (_, error) in zip(stale, listed, strict=True)
        ]

    def _open_roots(self, configs: list[PipelineConfig]) -> None:
        """Open each lake once before the threads use it (opening builds the filesystem from the
        connection, which is not for several threads at once); a failure shows when listing."""
        for config in {c.source.name: c for c in configs}.values():
            try:
                self.root(config).path  # noqa: B018 - opened on first use
            except (TributaryError, OSError) as exc:
                log.warning("Lake view: cannot open the lake of %s: %s", config.source.name, exc)

    def _list(self, item: tuple[PipelineConfig, AnyTable]) -> tuple[list[str], str | None]:
        config, table = item
        try:
            return list_partitions(self.root(config), config.source.name, table.name), None
        except (TributaryError, OSError) as exc:
            log.warning("Lake view: cannot list %s.%s: %s", config.source.name, table.name, exc)
            return [], f"{type(exc).__name__}: {exc}"

    def _read_chunk(self, item: tuple[PipelineConfig, AnyTable, list[str]]) -> list[PartitionStatus]:
        config, table, names = item
        try:
            return read_partitions(self.root(config), config.source.name, table.name, names)
        except (TributaryError, OSError, ValueError):  # one partition's fault: read them one by one
            return [self._read((config, table, name)) for name in names]

    def _read(self, item: tuple[PipelineConfig, AnyTable, str]) -> PartitionStatus:
        config, table, name = item
        key, value = name.split("=", 1)
        partition = Partition(self.root(config), config.source.name, table.name, key, value)
        try:
            return partition_status(partition, check_files=False)
        except (TributaryError, OSError, ValueError) as exc:
            log.warning("Lake view: cannot read %s: %s", partition.location, exc)
            return PartitionStatus(partition.name, "unreadable", problems=[f"{type(exc).__name__}: {exc}"])


__all__ = ["VIEW_POLICY", "LakeReader", "SourceView", "TableView"]
