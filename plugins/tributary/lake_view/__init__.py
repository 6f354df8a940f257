"""The Lake view: a page of the Airflow UI (a FastAPI app the API server serves under ``/lake``,
and two external views: an entry of the navigation and a tab of every DAG's page) that shows, per
source and table, every partition of the lake as a calendar strip, and each partition's manifest.

It reads ``_SUCCESS`` markers and manifests through the lake code the operators use
(:mod:`tributary.lake_status`, the lake hook with the lake's Airflow connection), never the data
files, and keeps what it read for a short while (``[tributary] lake_view_cache_seconds``). A user
sees the sources whose ``replicate_<source>`` DAG the auth manager lets them read.

The app is built on the first request, not when the plugin is imported: the scheduler and the
task processes load the plugin too, and need neither FastAPI nor the templates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

URL_PREFIX = "/lake"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LakeViewApp:
    """An ASGI app that builds the Lake view's FastAPI app when it first serves a request."""

    def __init__(self) -> None:
        self._app: Any = None

    def __repr__(self) -> str:
        return "tributary.lake_view.LakeViewApp()"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from tributary.lake_view.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


def lake_views() -> list[dict[str, str]]:
    """The navigation entry and the DAG-page tab (``{DAG_ID}`` is filled in by the UI)."""
    return [
        {"name": "Lake", "href": f"{URL_PREFIX}/", "url_route": "lake", "destination": "nav"},
        {
            "name": "Lake",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}",
            "url_route": "lake-dag",
            "destination": "dag",
        },
    ]


__all__ = ["URL_PREFIX", "LakeViewApp", "lake_views"]
