"""The file-source steps on real stores -- a local folder, S3 (moto) and GCS (the emulator) --
through Airflow's object storage: new files load, a changed one loads again, an unchanged one is
skipped, a broken one is quarantined while the good ones load, and a run with nothing new commits
an empty batch."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.files.conftest import ORDERS_CONTRACT, Store, local_store, orders_csv
from tributary.config import FileTableConfig
from tributary.errors import ConcurrentRunError, RejectedFilesError
from tributary.files.extract import Landing, extract_files, files_partition
from tributary.files.verify import commit_files, verify_files
from tributary.hooks.lake import lake_root
from tributary.lake import MANIFEST, SUCCESS
from tributary.lake_io import LakeRoot, RetryPolicy
from tributary.manifest import Manifest

FAST = RetryPolicy(attempts=3, initial=0.05, maximum=0.2, jitter=0.05)
WINDOW_END = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


def _table(**overrides: object) -> FileTableConfig:
    return FileTableConfig.model_validate(
        {
            "name": "orders",
            "glob": "orders/*.csv",
            "format": "csv",
            "contract": ORDERS_CONTRACT,
            "quiet_period": "0s",  # files landed a moment ago
            **overrides,
        }
    )


def _run(table: FileTableConfig, landing: Store, lake: Store) -> Manifest:
    """extract, verify, commit, as the DAG's three tasks do."""
    landing_root = lake_root(landing.url, landing.conn_id, policy=FAST)
    root = lake_root(lake.url, lake.conn_id, policy=FAST)
    where = Landing(landing_root, landing.url)
    manifest = extract_files(table, source="shop", landing=where, lake_root=root)
    verify_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, reference_time=WINDOW_END)
    return commit_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, landing=where)


def _rows(lake: Store, manifest: Manifest) -> pa.Table:
    partition = files_partition(lake_root(lake.url, lake.conn_id), "shop", "orders", manifest.batch_id)
    return pa.concat_tables(
        [partition.read_file(f.name, pq.read_table) for f in manifest.files], promote_options="default"
    )


def test_new_changed_unchanged_and_broken_files(stores: tuple[Store, Store]) -> None:
    landing, lake = stores
    landing.put("orders/2025-01-01.csv", orders_csv(1, 3))
    landing.put("orders/2025-01-02.csv", orders_csv(4, 2, day=2))
    broken = orders_csv(6, 2).replace(b",6.06,", b",six,")  # line 2: amount is not a decimal
    landing.put("orders/broken.csv", broken)
    landing.put("other/ignored.csv", orders_csv(100, 1))  # outside the glob
    table = _table(on_violation="warn", quarantine="quarantine")

    first = _run(table, landing, lake)

    assert [f.path for f in first.source_files] == ["orders/2025-01-01.csv", "orders/2025-01-02.csv"]
    assert first.rows == first.source_query_rows == 5
    (rejected,) = first.rejected_files
    assert rejected.path == "orders/broken.csv"
    assert rejected.violations[0].describe() == "line 2, column amount: 'six' is not of type decimal(10,2)"
    moved = f"quarantine/{first.batch_id}/orders/broken.csv"
    assert rejected.quarantined_to == moved
    files = landing.keys()
    assert "orders/broken.csv" not in files and files[moved] == len(broken)
    data = _rows(lake, first)
    assert sorted(data.column("id").to_pylist()) == [1, 2, 3, 4, 5]
    assert set(data.column("_source_file").to_pylist()) == {
        f"{landing.url}/orders/2025-01-01.csv",
        f"{landing.url}/orders/2025-01-02.csv",
    }
    assert data.column("_file_modified_time").null_count == 0
    assert str(data.schema.field("amount").type) == "decimal128(10, 2)"
    partition = f"shop/orders/batch={first.batch_id}"
    assert {f"{partition}/{MANIFEST}", f"{partition}/{SUCCESS}"} <= set(lake.keys())

    # the second run: one file changed, one new, one unchanged
    landing.put("orders/2025-01-02.csv", orders_csv(4, 3, day=2))
    landing.put("orders/2025-01-03.csv", orders_csv(20, 4, day=3))
    second = _run(table, landing, lake)

    assert [f.path for f in second.source_files] == ["orders/2025-01-02.csv", "orders/2025-01-03.csv"]
    assert second.unchanged_files == 1 and second.rejected_files == []
    assert sorted(_rows(lake, second).column("id").to_pylist()) == [4, 5, 6, 20, 21, 22, 23]
    assert [f.path for f in second.landing_state] == [
        "orders/2025-01-01.csv",
        "orders/2025-01-02.csv",
        "orders/2025-01-03.csv",
    ]

    # nothing new: an empty batch is committed, so the checks still run on it
    third = _run(table, landing, lake)
    assert third.rows == 0 and third.source_files == [] and third.unchanged_files == 3
    assert _rows(lake, third).num_rows == 0
    expected = {
        f"shop/orders/batch={m.batch_id}/{name}"
        for m in (first, second, third)
        for name in [MANIFEST, SUCCESS, *(f.name for f in m.files)]
    }
    assert set(lake.keys()) == expected  # a part per loaded file, one empty part when none


def test_fail_policy_commits_the_good_files_then_fails(tmp_path) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/good.csv", orders_csv(1, 2))
    landing.put("orders/dup.csv", orders_csv(1, 2) + b"1,again,1.00,open,2025-01-01 00:00:00\n")
    table = _table()  # on_violation: fail, no quarantine

    with pytest.raises(RejectedFilesError) as caught:
        _run(table, landing, lake)

    message = str(caught.value)
    assert "orders/dup.csv: line 4: duplicate primary key (id=1), first in row 1" in message
    assert "the 1 good file(s) are committed" in message
    (batch,) = (tmp_path / "lake" / "shop" / "orders").iterdir()
    assert (batch / SUCCESS).exists()
    assert pq.read_table(batch).num_rows == 2
    # not quarantined: still in the landing zone, and read again (and rejected) by the next run
    assert "orders/dup.csv" in set(landing.keys())
    with pytest.raises(RejectedFilesError):
        _run(table, landing, lake)


# -- the quarantine moves after _SUCCESS: a failed try leaves the rejected files where they were --


def _roots(landing: Store, lake: Store) -> tuple[Landing, LakeRoot]:
    return Landing(lake_root(landing.url, landing.conn_id, policy=FAST), landing.url), lake_root(
        lake.url, lake.conn_id, policy=FAST
    )


def test_a_try_failing_before_the_commit_leaves_rejected_files_for_the_retry(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake = stores
    landing.put("orders/good.csv", orders_csv(1, 2))
    landing.put("orders/broken.csv", orders_csv(3, 2).replace(b",3.03,", b",three,"))
    table = _table(quarantine="quarantine")  # on_violation: fail
    where, root = _roots(landing, lake)

    # try 1: the extract rejects broken.csv, then verify fails (a lake outage, say)
    first = extract_files(table, source="shop", landing=where, lake_root=root)
    assert [f.path for f in first.rejected_files] == ["orders/broken.csv"]
    assert "orders/broken.csv" in set(landing.keys()), "nothing moves before the commit"
    with monkeypatch.context() as patched:
        patched.setattr("tributary.files.verify.apply_checks", _fail_once)
        with pytest.raises(OSError, match="outage"):
            verify_files(
                table, source="shop", lake_root=root, batch_id=first.batch_id, reference_time=WINDOW_END
            )

    # try 2: the task group again; broken.csv is still there, rejected again, and the policy fails
    with pytest.raises(RejectedFilesError, match=r"orders/broken\.csv: line 2, column amount") as caught:
        _run(table, landing, lake)
    second_batch = _batch_of_message(str(caught.value))
    assert f"quarantine: quarantine/{second_batch}/orders/broken.csv" in str(caught.value)
    keys = landing.keys()
    assert "orders/broken.csv" not in keys and f"quarantine/{second_batch}/orders/broken.csv" in keys


def test_a_commit_retried_after_the_move_still_fails_and_lists_the_rejected_files(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/good.csv", orders_csv(1, 2))
    landing.put("orders/bad-1.csv", orders_csv(3, 1).replace(b",3.03,", b",x,"))
    landing.put("orders/bad-2.csv", orders_csv(4, 1).replace(b",4.04,", b",y,"))
    table = _table(quarantine="quarantine")
    where, root = _roots(landing, lake)
    manifest = extract_files(table, source="shop", landing=where, lake_root=root)
    verify_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, reference_time=WINDOW_END)

    from tributary.files import landing as landing_module

    real = landing_module.quarantine
    moves: list[str] = []

    def move_then_crash(root_, file, moved):  # the worker dies after the first move
        moves.append(file.path)
        real(root_, file, moved)
        if len(moves) == 1:
            raise OSError("worker lost")

    monkeypatch.setattr("tributary.files.verify.quarantine", move_then_crash)
    with pytest.raises(OSError, match="worker lost"):
        commit_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, landing=where)
    monkeypatch.setattr("tributary.files.verify.quarantine", real)
    with pytest.raises(RejectedFilesError) as caught:  # the retry of the commit
        commit_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, landing=where)
    message = str(caught.value)
    assert "orders/bad-1.csv" in message and "orders/bad-2.csv" in message
    keys = landing.keys()
    assert sorted(k for k in keys if k.startswith("quarantine/")) == [
        f"quarantine/{manifest.batch_id}/orders/bad-1.csv",
        f"quarantine/{manifest.batch_id}/orders/bad-2.csv",
    ]
    assert "orders/good.csv" in keys


def test_a_rejected_file_replaced_before_the_commit_stays_for_the_next_run(tmp_path) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/late.csv", orders_csv(1, 1).replace(b",1.01,", b",x,"))
    table = _table(quarantine="quarantine", on_violation="warn")
    where, root = _roots(landing, lake)
    manifest = extract_files(table, source="shop", landing=where, lake_root=root)
    verify_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, reference_time=WINDOW_END)
    landing.put("orders/late.csv", orders_csv(1, 2))  # the producer fixed it meanwhile
    commit_files(table, source="shop", lake_root=root, batch_id=manifest.batch_id, landing=where)
    assert "orders/late.csv" in set(landing.keys()), "a new version is not the file that was rejected"


_failed: set[str] = set()


def _fail_once(partition, manifest, checks, *, reference_time):  # type: ignore[no-untyped-def]
    if manifest.batch_id not in _failed:
        _failed.add(manifest.batch_id)
        raise OSError("lake outage")
    return manifest


def _batch_of_message(message: str) -> str:
    return message.split("batch=", 1)[1].split(":", 1)[0]


# -- overlapping runs: the fence ------------------------------------------------------------------


def test_overlapping_runs_load_a_file_once(tmp_path) -> None:
    """extract 1, extract 2, commit 1, commit 2 (``max_active_runs: 2``): both runs planned from
    the same state and hold the same new file; the second commit refuses, nothing loads twice."""
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/1.csv", orders_csv(1, 2))
    table = _table()
    first = _run(table, landing, lake)
    landing.put("orders/2.csv", orders_csv(3, 2))
    where, root = _roots(landing, lake)

    one = extract_files(table, source="shop", landing=where, lake_root=root)
    two = extract_files(table, source="shop", landing=where, lake_root=root)
    assert [f.path for f in one.source_files] == [f.path for f in two.source_files] == ["orders/2.csv"]
    assert one.planned_from == two.planned_from == first.batch_id
    for manifest in (one, two):
        verify_files(
            table, source="shop", lake_root=root, batch_id=manifest.batch_id, reference_time=WINDOW_END
        )
    commit_files(table, source="shop", lake_root=root, batch_id=one.batch_id, landing=where)
    with pytest.raises(ConcurrentRunError, match=rf"batch={two.batch_id}: not committing: this run planned"):
        commit_files(table, source="shop", lake_root=root, batch_id=two.batch_id, landing=where)

    committed = [k for k in set(lake.keys()) if k.endswith(SUCCESS)]
    assert sorted(committed) == sorted(
        f"shop/orders/batch={b}/{SUCCESS}" for b in (first.batch_id, one.batch_id)
    )
    third = _run(table, landing, lake)  # the next run plans from batch 1: nothing new
    assert third.planned_from == one.batch_id and third.source_files == [] and third.unchanged_files == 2


# -- the quiet period: a file still being written waits ---------------------------------------------


def test_a_file_modified_within_the_quiet_period_waits_for_a_later_run(tmp_path, caplog) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/settled.csv", orders_csv(1, 2))
    landing.put("orders/growing.csv", orders_csv(3, 1))  # its producer is still writing it
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "landing" / "orders" / "settled.csv", (an_hour_ago, an_hour_ago))
    table = FileTableConfig.model_validate(
        {"name": "orders", "glob": "orders/*.csv", "format": "csv", "contract": ORDERS_CONTRACT}
    )
    assert table.quiet_period == "60s"

    with caplog.at_level(logging.INFO, logger="tributary.files.extract"):
        first = _run(table, landing, lake)
    assert [f.path for f in first.source_files] == ["orders/settled.csv"]
    assert [f.path for f in first.waiting_files] == ["orders/growing.csv"]
    assert [f.path for f in first.landing_state] == ["orders/settled.csv"], "not in the state: still new"
    waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert any(
        "orders/growing.csv was modified at" in m and "quiet period of 60s: waiting" in m for m in waiting
    )

    landing.put("orders/growing.csv", orders_csv(3, 3))  # finished; quiet for a minute since
    os.utime(tmp_path / "landing" / "orders" / "growing.csv", (time.time() - 61, time.time() - 61))
    second = _run(table, landing, lake)
    assert [f.path for f in second.source_files] == ["orders/growing.csv"] and second.rows == 3
    assert second.waiting_files == [] and second.unchanged_files == 1


def test_two_commits_passing_the_check_at_once_commit_one_batch(tmp_path, monkeypatch) -> None:
    """The check and ``_SUCCESS`` are two requests: two commits can both find the state they
    planned from still the newest. Each looks again after its ``_SUCCESS``; the one that sees
    the other takes its ``_SUCCESS`` back."""
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/1.csv", orders_csv(1, 2))
    table = _table()
    where, root = _roots(landing, lake)
    one = extract_files(table, source="shop", landing=where, lake_root=root)
    two = extract_files(table, source="shop", landing=where, lake_root=root)
    assert one.planned_from is None and two.planned_from is None
    for manifest in (one, two):
        verify_files(
            table, source="shop", lake_root=root, batch_id=manifest.batch_id, reference_time=WINDOW_END
        )
    # both checks ran before either _SUCCESS: each still finds no committed batch
    monkeypatch.setattr("tributary.files.verify.last_state", lambda *args: None)
    commit_files(table, source="shop", lake_root=root, batch_id=one.batch_id, landing=where)
    with pytest.raises(ConcurrentRunError, match=rf"batch {one.batch_id} of another run planned from it too"):
        commit_files(table, source="shop", lake_root=root, batch_id=two.batch_id, landing=where)
    committed = sorted(k for k in set(lake.keys()) if k.endswith(SUCCESS))
    assert committed == [f"shop/orders/batch={one.batch_id}/{SUCCESS}"], "one batch holds 1.csv"
