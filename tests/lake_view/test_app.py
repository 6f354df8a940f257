"""The Lake view's app in-process (FastAPI's TestClient) over a lake written by Tributary's own
extract, verify and commit of the demo source, with a real auth manager (SimpleAuthManager with one
DAG denied to one user) and real JWTs: what each user sees, the cells of each kind, the pages of a
table and of a partition, hostile names, the cache. The browser test over a real `make airflow` is
tests/airflow/test_lake_view_browser.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.lake_view import generate, kind_of, month_start, write_partition
from tests.lake_view.pages import cells, strips
from tests.transform.conftest import build_lake
from tributary.lake import Partition
from tributary.manifest import CheckResult, RejectedFile, Violation

pytestmark = pytest.mark.airflow

HOSTILE = '<script>alert("x")</script> \' & ünï/../cödé'
FAILED_DETAIL = "2 duplicate keys, e.g. id=7 <b>bold</b>"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, demo_sqlite: Path) -> Path:
    """The demo lake (sales, sales_items, payments by month 2025-01..03; three full tables), with
    sales 2025-02 failing a check and payments 2025-03 not committed, as a run leaves them; a
    second source ``secret``; and a source ``odd`` whose table name is hostile."""
    folder = tmp_path_factory.mktemp("lake_view")
    pipelines = build_lake(demo_sqlite, folder)
    root = folder / "lake"
    failed = Partition(root, "pos", "sales", "month", "2025-02")
    manifest = failed.read_manifest()
    check = CheckResult(check="unique(id)", passed=False, detail=FAILED_DETAIL)
    failed.begin()  # verify failed: the run never committed
    failed.write_manifest(manifest.model_copy(update={"checks": [check]}))
    Partition(root, "pos", "payments", "month", "2025-03").begin()
    # what a file table's manifest adds, and a schema change, on a committed partition
    january = Partition(root, "pos", "sales", "month", "2025-01")
    rejected = RejectedFile(
        path="in/bad <1>.csv", size=10, violations=[Violation(line=3, column="amount", reason="not a number")]
    )
    extra = {"rejected_files": [rejected], "schema_changes": ["added column note (string)"]}
    january.write_manifest(january.read_manifest().model_copy(update=extra))
    pos = (pipelines / "pos.yaml").read_text()
    (pipelines / "secret.yaml").write_text(pos.replace("name: pos", "name: secret"))
    (pipelines / "odd.yaml").write_text(
        "source: {name: odd, conn_id: odd_db}\n"
        f"lake: {{url: '{root.as_uri()}'}}\nstart_date: 2021-01-01\nend_date: 2021-03-01\n"
        f"tables:\n  - {{name: {json.dumps(HOSTILE)}, mode: window, date_column: day}}\n"
    )
    write_partition(root, "odd", HOSTILE, 0, folder / "staging", "committed")
    return folder


@pytest.fixture(scope="module")
def auth(airflow_db: Path) -> Iterator[Any]:
    """Airflow's auth manager, configured as the API server's would be: tests.lake_view.deny."""
    from airflow.api_fastapi.app import init_auth_manager

    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "tests.lake_view.deny.DenyAuthManager")
    patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "lake-view-tests")
    patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:viewer,bob:viewer")
    try:
        yield init_auth_manager()
    finally:
        patch.undo()


def _client(auth: Any, pipelines: Path, user: str | None, warm: bool = False, **reader: Any) -> Any:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from tributary.lake_view.app import create_app
    from tributary.lake_view.reader import LakeReader

    client = TestClient(create_app(LakeReader(pipelines, **reader), warm=warm), follow_redirects=False)
    if user is not None:
        client.cookies.set("_token", auth.generate_jwt(SimpleAuthManagerUser(username=user, role="viewer")))
    return client


def test_a_request_without_a_signed_in_user_is_sent_to_the_login_page(lake: Path, auth: Any) -> None:
    for token in (None, "not-a-jwt"):
        client = _client(auth, lake / "pipelines", None)
        if token:
            client.cookies.set("_token", token)
        for path in ("/", "/table?source=pos&table=sales", "/dags/replicate_pos"):
            response = client.get(path)
            assert response.status_code == 303, (token, path, response.text[:300])
            assert response.headers["location"].startswith("/auth/login?next=")
            assert "sales" not in response.text


def test_the_overview_draws_a_cell_per_month_of_each_kind(lake: Path, auth: Any) -> None:
    page = _client(auth, lake / "pipelines", "bob").get("/")
    assert page.status_code == 200
    sales = cells(page.text, "sales", "pos")
    assert sales["2025-01"] == sales["2025-03"] == "committed"
    assert sales["2025-02"] == "failed"  # the failed check, no _SUCCESS
    assert cells(page.text, "payments", "pos")["2025-03"] == "not-committed"
    assert sales["2025-04"] == "missing" and "2024-12" not in sales  # from start_date on
    assert cells(page.text, "items", "pos")["2025-02"] == "committed"  # snapshot_date=2025-02-01
    assert strips(page.text).sources == ["odd", "pos", "secret"]


def test_a_user_sees_only_the_sources_whose_dag_they_may_read(lake: Path, auth: Any) -> None:
    alice = _client(auth, lake / "pipelines", "alice")
    assert strips(alice.get("/").text).sources == ["odd", "pos"]
    for path in ("/dags/replicate_secret", "/table?source=secret&table=sales"):
        response = alice.get(path)
        assert response.status_code == 403 and "replicate_secret" in response.text
    assert alice.get("/dags/replicate_pos").status_code == 200
    bob = _client(auth, lake / "pipelines", "bob")
    assert strips(bob.get("/dags/replicate_secret").text).sources == ["secret"]


def test_the_table_page_shows_each_partition_with_its_checks(lake: Path, auth: Any) -> None:
    page = _client(auth, lake / "pipelines", "bob").get("/table", params={"source": "pos", "table": "sales"})
    assert page.status_code == 200
    assert "FAILED unique(id): 2 duplicate keys, e.g. id=7 &lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "<b>bold</b>" not in page.text
    for partition in ("month=2025-01", "month=2025-02", "month=2025-03"):
        assert f'data-partition="{partition}"' in page.text
    assert 'data-state="failed checks"' in page.text and 'data-state="committed"' in page.text
    assert "in/bad &lt;1&gt;.csv</span>: line 3, column amount: not a number" in page.text
    assert "added column note (string)" in page.text


def test_the_partition_page_shows_its_manifest(lake: Path, auth: Any) -> None:
    from tributary.manifest import Manifest

    client = _client(auth, lake / "pipelines", "bob")
    params = {"source": "pos", "table": "sales", "partition": "month=2025-01"}
    page = client.get("/partition", params=params)
    assert page.status_code == 200
    manifest = Manifest.from_json((lake / "lake/pos/sales/month=2025-01/_manifest.json").read_text())
    assert manifest.batch_id in page.text and f"{manifest.rows:,}" in page.text
    assert all(f.name in page.text for f in manifest.files) and "sales_date" in page.text
    assert "line 3, column amount: not a number" in page.text and "1 rejected" in page.text
    missing = client.get("/partition", params={**params, "partition": "month=2031-01"})
    assert missing.status_code == 200 and "no manifest" in missing.text
    assert client.get("/partition", params={**params, "partition": "nonsense"}).status_code == 404


def test_hostile_names_are_shown_as_text(lake: Path, auth: Any) -> None:
    client = _client(auth, lake / "pipelines", "bob")
    page = client.get("/")
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert cells(page.text, HOSTILE, "odd") == {"2021-01": "committed", "2021-02": "missing"}
    table = client.get("/table", params={"source": "odd", "table": HOSTILE})
    assert table.status_code == 200 and "<script>alert" not in table.text
    assert cells(table.text, HOSTILE) == {"2021-01": "committed", "2021-02": "missing"}


def _copy(lake: Path, folder: Path) -> Path:
    """A copy of the lake and its configs in ``folder`` (a test that changes the lake), its
    pipelines folder returned."""
    shutil.copytree(lake, folder, dirs_exist_ok=True)
    for config in (folder / "pipelines").glob("*.yaml"):
        config.write_text(config.read_text().replace((lake / "lake").as_uri(), (folder / "lake").as_uri()))
    return folder / "pipelines"


def test_what_was_read_is_kept_for_the_cache_lifetime(lake: Path, auth: Any, tmp_path: Path) -> None:
    _copy(lake, tmp_path)
    now = [1000.0]
    client = _client(auth, tmp_path / "pipelines", "bob", ttl=30, clock=lambda: now[0])
    reader = client.app.state.reader
    assert cells(client.get("/").text, "sales", "pos")["2025-01"] == "committed"
    read = reader.reads
    Partition(tmp_path / "lake", "pos", "sales", "month", "2025-01").begin()  # a re-run starts
    now[0] += 29
    assert cells(client.get("/").text, "sales", "pos")["2025-01"] == "committed"  # from the cache
    assert reader.reads == read
    now[0] += 2
    assert cells(client.get("/").text, "sales", "pos")["2025-01"] == "not-committed"
    assert reader.reads == read + 1  # only the partition whose files changed is read again


def test_a_generated_lake_renders_the_cell_of_every_partition(tmp_path: Path, auth: Any) -> None:
    tables, months = 6, 30
    pipelines = generate(tmp_path, tables, months)
    page = _client(auth, pipelines, "bob").get("/")
    assert page.status_code == 200
    for t in range(tables):
        drawn = cells(page.text, f"table_{t:03d}", "bench")
        expected = {f"{month_start(m):%Y-%m}": kind_of(t, m) for m in range(months)}
        assert drawn == expected
    kinds = {kind_of(t, m) for t in range(tables) for m in range(months)}
    assert kinds == {"committed", "not-committed", "failed", "missing"}  # the pattern draws each kind


def test_a_dag_that_is_not_a_replication_dag(lake: Path, auth: Any) -> None:
    response = _client(auth, lake / "pipelines", "bob").get("/dags/dbt_setup")
    assert response.status_code == 404 and "not a Tributary replication DAG" in response.text


def test_the_lake_is_read_before_the_first_page_and_again_ahead_of_expiry(
    lake: Path, auth: Any, tmp_path: Path
) -> None:
    pipelines = _copy(lake, tmp_path)
    partitions = sum(1 for _ in (tmp_path / "lake").glob("*/*/*=*"))
    now = [1000.0]
    client = _client(auth, pipelines, "bob", warm=True, ttl=30, idle=600, clock=lambda: now[0])
    reader = client.app.state.reader
    try:
        page = client.get("/")  # while the warm-up reads, or after: the page waits, nothing is read twice
        assert reader.warmed.wait(60)
        assert reader.reads == partitions  # every partition read once, by the warm-up
        assert cells(page.text, "sales", "pos")["2025-01"] == "committed"
        Partition(tmp_path / "lake", "pos", "sales", "month", "2025-01").begin()  # a re-run starts
        now[0] += 14
        reader.refresh_ahead()  # what the background thread does each ttl/4: nothing is due yet
        assert reader.reads == partitions
        now[0] += 2
        reader.refresh_ahead()  # read over half the lifetime ago: read again (the changed), ahead of the page
        assert reader.reads == partitions + 1
        now[0] += 20  # past the first read's expiry: the page finds the second read, reads nothing
        assert cells(client.get("/").text, "sales", "pos")["2025-01"] == "not-committed"
        assert reader.reads == partitions + 1
        now[0] += 601  # no page asked for in `idle` seconds: the lake is left alone
        Partition(tmp_path / "lake", "pos", "sales", "month", "2025-03").begin()
        reader.refresh_ahead()
        assert reader.reads == partitions + 1
    finally:
        reader.stop()


def test_a_partition_the_fast_read_cannot_summarize_is_read_as_before(
    lake: Path, auth: Any, tmp_path: Path
) -> None:
    pipelines = _copy(lake, tmp_path)
    manifest = tmp_path / "lake/pos/sales/month=2025-01/_manifest.json"
    body = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**body, "rows": "many"}))  # not what Tributary writes
    march = tmp_path / "lake/pos/sales/month=2025-03/_manifest.json"
    march.write_text(json.dumps({**json.loads(march.read_text()), "surprise": "<i>"}))  # an unknown key
    client = _client(auth, pipelines, "bob")
    overview = cells(client.get("/").text, "sales", "pos")
    assert overview["2025-01"] == "failed"  # unreadable
    assert overview["2025-03"] == "committed"  # what the overview reads of it is sound
    page = client.get("/table", params={"source": "pos", "table": "sales"})
    assert page.status_code == 200 and page.text.count('data-state="unreadable"') == 2
    assert "rows\n  Input should be a valid integer" in page.text and "surprise\n  Extra inputs" in page.text
