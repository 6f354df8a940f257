"""The Lake view's FastAPI app, served by Airflow's API server under ``/lake``.

Every page needs a signed-in Airflow user (the JWT the UI keeps in its ``_token`` cookie, or a
bearer token), resolved by Airflow's own ``get_user``; without one the browser is sent to the
auth manager's login page. A source is shown only to a user whom the auth manager lets read its
``replicate_<source>`` DAG. Pages are rendered on the server from Jinja templates with
autoescaping on: source, table and partition names, check details and file paths are text from
configs and manifests, never markup.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.configuration import conf
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from tributary.config import PipelineConfig
from tributary.lake_calendar import LABELS
from tributary.lake_view import URL_PREFIX
from tributary.lake_view.format import (
    Links,
    cell_tip,
    clock,
    decode_partition,
    number,
    size,
    state_kind,
    strip_html,
)
from tributary.lake_view.reader import AnyTable, LakeReader

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
DAG_PREFIX = "replicate_"


class Forbidden(Exception):
    """The user is signed in but may not read the source's DAG."""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(number=number, size=size, clock=clock)
    env.globals.update(cell_tip=cell_tip, labels=LABELS, state_kind=state_kind, strip_html=strip_html)
    return env


def default_reader() -> LakeReader:
    """The reader of the API server: its cache's lifetime, the threads of an object-store read and
    how long it reads ahead with no page asked for come from Airflow's configuration
    (``[tributary]``, or ``AIRFLOW__TRIBUTARY__...``)."""
    ttl = conf.getfloat("tributary", "lake_view_cache_seconds", fallback=30.0)
    workers = conf.getint("tributary", "lake_view_workers", fallback=16)
    idle = conf.getfloat("tributary", "lake_view_idle_seconds", fallback=600.0)
    return LakeReader(ttl=ttl, workers=workers, idle=idle)


def readable(user: Any, configs: list[PipelineConfig]) -> list[PipelineConfig]:
    """The configs whose DAG the auth manager lets ``user`` read."""
    allowed = get_auth_manager().filter_authorized_dag_ids(
        dag_ids={c.dag_id for c in configs}, user=user, method="GET"
    )
    return [c for c in configs if c.dag_id in allowed]


router = APIRouter()


def _reader(request: Request) -> LakeReader:
    reader: LakeReader = request.app.state.reader
    return reader


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    links = Links(request.scope.get("root_path", ""), URL_PREFIX)
    now = dt.datetime.now(dt.UTC)
    ttl = _reader(request).ttl
    html = request.app.state.templates.get_template(template).render(link=links, now=now, ttl=ttl, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


async def signed_out(request: Request, exc: Exception) -> Response:
    """Airflow's ``get_user`` answers 401 without a token or with an expired one, 403 with a
    forged one: a browser is sent to the login page, which comes back here."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (401, 403) and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(get_auth_manager().get_url_login(next_url=target), status_code=303)
    return page(request, "error.html", exc.status_code, message=str(exc.detail))


async def forbidden(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", 403, message=str(exc))


def source_of(request: Request, user: Any, source: str) -> PipelineConfig:
    config = _reader(request).config(source)
    if config is None:
        raise HTTPException(404, f"no pipeline config has source {source!r}")
    if not readable(user, [config]):
        raise Forbidden(f"you may not read the DAG {config.dag_id}, so not its lake either")
    return config


def table_of(config: PipelineConfig, table: str) -> AnyTable:
    found = next((t for t in config.tables if t.name == table), None)
    if found is None:
        raise HTTPException(404, f"source {config.source.name!r} has no table {table!r}")
    return found


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: GetUserDep) -> HTMLResponse:
    reader = _reader(request)
    configs, errors = reader.configs()
    sources = reader.sources(readable(user, configs))
    return page(request, "overview.html", sources=sources, errors=errors, dag_id=None)


@router.get("/dags/{dag_id}", response_class=HTMLResponse)
def dag_tab(request: Request, dag_id: str, user: GetUserDep) -> HTMLResponse:
    if not dag_id.startswith(DAG_PREFIX):
        message = f"{dag_id} is not a Tributary replication DAG: the Lake view shows replicate_<source> DAGs"
        return page(request, "error.html", 404, message=message)
    config = source_of(request, user, dag_id[len(DAG_PREFIX) :])
    sources = _reader(request).sources([config])
    return page(request, "overview.html", sources=sources, errors=[], dag_id=dag_id)


@router.get("/table", response_class=HTMLResponse)
def table_page(request: Request, source: str, table: str, user: GetUserDep) -> HTMLResponse:
    config = source_of(request, user, source)
    view = _reader(request).table(config, table_of(config, table))
    statuses = sorted(view.statuses, key=lambda s: s.partition, reverse=True)
    return page(request, "table.html", config=config, table=view, statuses=statuses)


@router.get("/partition", response_class=HTMLResponse)
def partition_page(
    request: Request, source: str, table: str, partition: str, user: GetUserDep
) -> HTMLResponse:
    config = source_of(request, user, source)
    found = table_of(config, table)
    try:
        status = _reader(request).partition(config, found, *decode_partition(partition))
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from exc
    return page(request, "partition.html", config=config, table=found, status=status)


def create_app(reader: LakeReader | None = None, *, warm: bool | None = None) -> FastAPI:
    """The app, over ``reader`` (by default: the pipeline configs of ``$TRIBUTARY_PIPELINES_DIR``
    and the cache settings of Airflow's configuration). With ``warm`` (by default, for the
    default reader) the reader reads the lake on a background thread from now on and keeps it
    read ahead of the cache's expiry (:meth:`LakeReader.start`)."""
    app = FastAPI(title="Tributary Lake view", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.reader = reader or default_reader()
    if warm if warm is not None else reader is None:
        app.state.reader.start()
    app.state.templates = _environment()
    app.add_exception_handler(HTTPException, signed_out)
    app.add_exception_handler(Forbidden, forbidden)
    app.include_router(router)
    return app


__all__ = ["Forbidden", "create_app", "default_reader", "readable"]
