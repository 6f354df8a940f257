"""Tributary's Airflow plugin: the window timetable (so the scheduler can deserialize its DAGs),
and the Lake view (a FastAPI app the API server serves under ``/lake``, with an entry in the UI's
navigation and a tab on each DAG's page; ``tributary.lake_view``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tributary.lake_view import URL_PREFIX, LakeViewApp, lake_views
from tributary.timetable import WindowTimetable


class TributaryPlugin(AirflowPlugin):
    name = "tributary"
    timetables = [WindowTimetable]  # noqa: RUF012 - the AirflowPlugin interface
    fastapi_apps = [{"app": LakeViewApp(), "url_prefix": URL_PREFIX, "name": "Tributary Lake view"}]  # noqa: RUF012
    external_views = lake_views()
