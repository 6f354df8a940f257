"""The timetable of replication DAGs: a run is a window, and a logical date names its window.

Airflow's ``CronDataIntervalTimetable`` already gives scheduled and backfill runs the window that
starts at their logical date (the run for 2025-10-01 of a monthly DAG covers October). Its manual
runs, though, cover the period *before* the logical date, so ``airflow dags test replicate_pos
2025-10-01`` would replicate September. This timetable makes manual runs cover the window that
contains their logical date, the convention users know from Airflow 2.
"""

from __future__ import annotations

from airflow.timetables.base import DataInterval
from airflow.timetables.interval import CronDataIntervalTimetable
from pendulum import DateTime

CRON = {"@monthly": "0 0 1 * *", "@daily": "0 0 * * *"}


class WindowTimetable(CronDataIntervalTimetable):
    """Cron windows in which a manual run for date D covers the window containing D."""

    description = "one run per window; a manual run covers the window of its logical date"

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = self._align_to_prev(run_after)
        return DataInterval(start=start, end=self._get_next(start))
