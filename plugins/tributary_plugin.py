"""Registers Tributary's timetable with Airflow, so the scheduler can deserialize its DAGs."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tributary.timetable import WindowTimetable


class TributaryPlugin(AirflowPlugin):
    name = "tributary"
    timetables = [WindowTimetable]  # noqa: RUF012 - the AirflowPlugin interface
