"""The Lake view in a real browser, served by the API server of `make airflow` (the session's
``real_airflow``), over a lake written by real runs of a pipeline added for it, ``lv``: ``sales``
(a window table) and ``payments`` (a window table whose QA check cannot pass), months 2025-01 and
2025-02 triggered from the CLI; then ``sales`` 2025-02 loses its ``_SUCCESS`` as a re-run's first
step removes it. Headless Debian chromium (scripts/install_chromium.sh) driven by playwright loads
the pages as the signed-in admin and the test reads the rendered DOM; a screenshot is kept in
``.artifacts/``.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import END, ROOT, START
from tests.support.stack import Airflow, committed
from tributary.lake import Partition

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

LV = "replicate_lv"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / ".artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _pipeline(lake: Path) -> str:
    return (
        "source: {name: lv, conn_id: rp_db, max_connections: 2, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        f"schedule: '@monthly'\nstart_date: {START}\nend_date: {END}\n"
        "tables:\n"
        "  - {name: sales, mode: window, date_column: sales_date, primary_key: [id]}\n"
        "  - {name: payments, mode: window, date_column: paid_at, checks: [{row_count: {max: 1}}]}\n"
    )


@pytest.fixture(scope="module")
def lv_lake(real_airflow: Airflow) -> Path:
    """The lake of pipeline ``lv``, written by two triggered runs (each fails: payments' check)."""
    stack = real_airflow
    lake = stack.pipelines.parent / "lake-lv"
    (stack.pipelines / "lv.yaml").write_text(_pipeline(lake))
    stack.cli("pools", "set", "source_lv", "2", "test pipeline lv")
    stack.wait_dag(LV)
    status, body = stack.api("PATCH", f"/api/v2/dags/{LV}", {"is_paused": False})
    assert status == 200, body
    for month in ("2025-01", "2025-02"):  # as the UI's trigger form does
        status, run = stack.api(
            "POST", f"/api/v2/dags/{LV}/dagRuns", {"logical_date": f"{month}-15T00:00:00Z"}
        )
        assert status == 200, run
        run = stack.wait_run(LV, run["dag_run_id"])
        assert run["state"] == "failed", run  # payments' row_count check
    assert {"month=2025-01", "month=2025-02"} <= set(committed(lake, "lv", "sales"))
    assert not committed(lake, "lv", "payments")
    Partition(lake, "lv", "sales", "month", "2025-02").begin()  # a re-run's first step
    return lake


@pytest.fixture
def browser_page() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright package is missing: make venv installs requirements.lock",
    )
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/install_chromium.sh), "
            "which needs root and apt-get"
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def test_a_request_without_a_signed_in_user_is_sent_to_the_login_page(real_airflow: Airflow) -> None:
    where = urllib.parse.urlsplit(real_airflow.url)
    for path in ("/lake/", f"/lake/dags/{LV}", "/lake/table?source=rp&table=sales"):
        connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 303, (path, response.status, body[:300])
        assert response.getheader("location", "").startswith("/auth/login?next=")
        assert "strip" not in body


def test_the_plugin_declares_the_app_and_its_views(real_airflow: Airflow) -> None:
    status, body = real_airflow.api("GET", "/api/v2/plugins")
    assert status == 200, body
    (plugin,) = [p for p in body["plugins"] if p["name"] == "tributary"]
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/lake"]
    views = {view["destination"]: view for view in plugin["external_views"]}
    assert views["nav"]["href"] == "/lake/" and views["dag"]["href"] == "/lake/dags/{DAG_ID}"


def _state(page: Any, table: str, period: str) -> str | None:
    cell = page.locator(f'.strip[data-table="{table}"] .cell[data-period="{period}"]')
    return cell.get_attribute("data-state") if cell.count() == 1 else None


# the view keeps what it read 30 s ([tributary] lake_view_cache_seconds), reading ahead in the
# background: a page shows the lake as it was at most that long ago
CACHE_SECONDS = 30


def _states_within(page: Any, url: str, expected: dict[tuple[str, str], str]) -> dict[tuple[str, str], Any]:
    """The cells' states of the page at ``url``, loaded again (as a user reloads it) until they
    are ``expected`` or the view's cache lifetime and a margin have passed."""
    deadline = time.monotonic() + CACHE_SECONDS + 20
    while True:
        response = page.goto(url)
        assert response is not None and response.status == 200
        seen = {cell: _state(page, *cell) for cell in expected}
        if seen == expected or time.monotonic() > deadline:
            return seen
        page.wait_for_timeout(2000)


def test_the_lake_view_in_a_browser(
    real_airflow: Airflow, lv_lake: Path, browser_page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = real_airflow
    browser_page.add_cookies([{"name": "_token", "value": stack.token(), "url": stack.url}])
    page = browser_page.new_page()
    expected = {
        ("sales", "2025-01"): "committed",
        ("sales", "2025-02"): "not-committed",  # its files and manifest, no _SUCCESS
        ("payments", "2025-01"): "failed",  # the check failed: never committed
        ("sales", "2025-03"): "missing",
    }
    assert _states_within(page, f"{stack.url}/lake/dags/{LV}", expected) == expected
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "lake-view.png"
    page.screenshot(path=str(shot), full_page=True)
    with capsys.disabled():  # shown whether pytest captures output or not
        print(f"\nthe Lake view's screenshot: {shot}")  # noqa: T201 - for the person running the tests

    page.click('.strip[data-table="payments"] .cell[data-period="2025-01"]')  # the partition's page
    page.wait_for_selector("tr.check")
    check = page.locator('tr.check[data-passed="false"]').inner_text()
    assert "row_count" in check and "FAILED" in check and "allowed: at most 1" in check
    run = page.locator("a.run").get_attribute("href") or ""
    assert run.startswith(f"/dags/{LV}/runs/")  # the Airflow run that wrote the partition
    linked = stack.run(LV, urllib.parse.unquote(run.rsplit("/", 1)[1]))
    assert linked["logical_date"].startswith("2025-01-15") and linked["state"] == "failed"

    # the UI: the DAG's page has a "Lake" tab, which frames the view of that DAG's source
    page.goto(f"{stack.url}/dags/{LV}/plugin/lake-dag")
    frame = page.frame_locator("iframe")
    cell = frame.locator('.strip[data-table="sales"] .cell[data-period="2025-01"]')
    cell.wait_for(timeout=60_000)
    assert cell.get_attribute("data-state") == "committed"
    page.screenshot(path=str(ARTIFACTS / "lake-view-dag-tab.png"), full_page=True)
