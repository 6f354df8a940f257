"""The timetable of replication DAGs: a run is a window, and a logical date names its window.

Airflow's ``CronDataIntervalTimetable`` already gives scheduled and backfill runs the window that
starts at their logical date (the run for 2025-10-01 of a monthly DAG covers October). Its manual
runs, though, cover the period *before* the logical date, so ``airflow dags test replicate_pos
2025-10-01`` would replicate September. This timetable makes manual runs cover the window that
contains their logical date, the convention users know from Airflow 2.

It also holds the pipeline's ``start_date`` and ``end_date`` itself, so that the DAG (and its
tasks) carry none: Airflow creates no task instance for a logical date outside a task's dates,
and such a run would "succeed" with nothing done. With the range here, the scheduler still runs
only the pipeline's windows, and a run triggered outside them gets its tasks, which refuse it
with a message (``tributary.windows.check_in_range``).

The window a task replicates is always derived from the run's logical date
(``tributary.windows.window_containing``), never from the data interval alone: Airflow's CLI
(``airflow dags trigger -l D``) asks the timetable for the manual interval of the time it is run,
not of D, and a REST call may pass any interval.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable
from pendulum import DateTime

CRON = {"@monthly": "0 0 1 * *", "@daily": "0 0 * * *"}


class WindowTimetable(CronDataIntervalTimetable):
    """Cron windows in which a manual run for date D covers the window containing D.

    :param start: the first moment a scheduled window may start (the pipeline's ``start_date``),
        used when the DAG has no ``start_date`` of its own
    :param end: no scheduled window starts at or after it (the pipeline's ``end_date``)
    """

    description = "one run per window; a manual run covers the window of its logical date"

    def __init__(
        self, cron: str, timezone: Any, *, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> None:
        super().__init__(cron, timezone)
        self.start = start
        self.end = end

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = self._align_to_prev(run_after)
        return DataInterval(start=start, end=self._get_next(start))

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        # The scheduler's restriction comes from the DAG's dates, which a replication DAG leaves
        # out: the pipeline's own range fills them. An explicit bound (a backfill's from/to
        # dates) wins, so a backfill outside the range creates its runs, and they say why not.
        earliest, latest = restriction.earliest, restriction.latest
        if earliest is None and self.start is not None:
            earliest = DateTime.instance(self.start)
        if latest is None and self.end is not None:
            latest = DateTime.instance(self.end - dt.timedelta(microseconds=1))
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval,
            restriction=TimeRestriction(earliest, latest, restriction.catchup),
        )

    def serialize(self) -> dict[str, Any]:
        data = super().serialize()
        for key in ("start", "end"):
            if (value := getattr(self, key)) is not None:
                data[key] = value.isoformat()
        return data

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> WindowTimetable:
        base = super().deserialize(data)
        assert isinstance(base, CronDataIntervalTimetable)
        start, end = (dt.datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("start", "end"))
        return cls(base._expression, base._timezone, start=start, end=end)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WindowTimetable)
            and super().__eq__(other)
            and (self.start, self.end) == (other.start, other.end)
        )

    __hash__ = CronDataIntervalTimetable.__hash__
