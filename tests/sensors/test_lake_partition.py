"""LakePartitionSensor and its trigger on file://, s3:// and gs:// lakes, in poke mode and
deferrable: it passes on a committed, complete partition, keeps waiting without ``_SUCCESS``, and
keeps waiting (with a warning) on a ``_SUCCESS`` whose manifest lists a missing file."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, TaskDeferred

from tests.support.lakes import ObjectLake, write_partition
from tributary.config import load_config
from tributary.hooks.lake import lake_root
from tributary.sensors import LakePartitionSensor
from tributary.triggers import LakePartitionTrigger

ITEMS = {"table": "items", "partition": "snapshot_date=2025-01-01"}


@pytest.fixture(params=["file", "s3", "gs"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """``(lake_url, lake_conn_id)`` of an empty lake of each kind."""
    if request.param == "file":
        folder = tmp_path / "lake"
        folder.mkdir()
        yield folder.as_uri(), None
    else:
        monkeypatch = request.getfixturevalue("monkeypatch")
        from tests.support.lakes import _gcs_lake, _s3_lake

        if request.param == "s3":
            found: ObjectLake = _s3_lake(request.getfixturevalue("moto_s3"), monkeypatch)
        else:
            found = _gcs_lake(request.getfixturevalue("gcs_emulator"), monkeypatch)
        yield found.url, found.conn_id


def _sensor(lake: tuple[str, str | None], **kwargs: Any) -> LakePartitionSensor:
    url, conn_id = lake
    args: dict[str, Any] = {
        "task_id": "wait",
        "lake_url": url,
        "lake_conn_id": conn_id,
        "source": "pos",
        **ITEMS,
    }
    args.update(kwargs)
    return LakePartitionSensor(**args)


def _remove_part(lake: tuple[str, str | None], name: str) -> None:
    root = lake_root(*lake)
    (root / "pos" / "items" / "snapshot_date=2025-01-01" / name).unlink()


async def _first_event(trigger: LakePartitionTrigger, timeout: float) -> Any:
    events = trigger.run()
    try:
        return await asyncio.wait_for(events.__anext__(), timeout)
    finally:
        await events.aclose()


def _event(trigger: LakePartitionTrigger, timeout: float = 10.0) -> Any:
    return asyncio.run(_first_event(trigger, timeout))


# -- poke mode -----------------------------------------------------------------------------


def test_poke_passes_on_a_committed_complete_partition(lake: tuple[str, str | None], tmp_path: Path) -> None:
    manifest = write_partition(lake_root(*lake), tmp_path / "staging")
    done = _sensor(lake).poke({})
    assert done and done.is_done  # type: ignore[union-attr]
    assert done.xcom_value["items"]["batch_id"] == manifest.batch_id  # type: ignore[union-attr]
    # the exact parts of the committed batch: what a downstream reader reads
    assert done.xcom_value["items"]["files"] == [f.name for f in manifest.files]  # type: ignore[union-attr]
    assert _sensor(lake, poke_interval=0.1, timeout=5).execute({})["items"]["rows"] == manifest.rows


def test_poke_keeps_waiting_without_success(
    lake: tuple[str, str | None], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_partition(lake_root(*lake), tmp_path / "staging", commit=False)
    with caplog.at_level(logging.INFO):
        assert _sensor(lake).poke({}) is False
    assert any("Waiting for _SUCCESS of" in r.getMessage() for r in caplog.records)
    with pytest.raises(AirflowSensorTimeout):
        _sensor(lake, poke_interval=0.1, timeout=0.5).execute({})


def test_poke_keeps_waiting_on_success_whose_manifest_lists_a_missing_file(
    lake: tuple[str, str | None], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_partition(lake_root(*lake), tmp_path / "staging")
    _remove_part(lake, "part-b1-00001.parquet")
    with caplog.at_level(logging.WARNING):
        assert _sensor(lake).poke({}) is False
    warning = next(r.getMessage() for r in caplog.records if "manifest is not complete" in r.getMessage())
    assert "part-b1-00001.parquet: missing" in warning and "a re-run may be repairing it" in warning
    with pytest.raises(AirflowFailException, match=r"incomplete manifest: .*part-b1-00001.parquet: missing"):
        _sensor(lake, fail_on_incomplete=True).poke({})


def test_several_tables_pass_together(lake: tuple[str, str | None], tmp_path: Path) -> None:
    root = lake_root(*lake)
    write_partition(root, tmp_path / "a", table="items")
    partitions = {"items": "snapshot_date=2025-01-01", "sales": "month=2025-01"}
    sensor = _sensor(lake, table=None, partition=None, partitions=partitions)
    assert sensor.poke({}) is False
    write_partition(root, tmp_path / "b", table="sales", key="month", value="2025-01")
    assert set(sensor.poke({}).xcom_value) == {"items", "sales"}  # type: ignore[union-attr]
    both = _sensor(lake, table=None, tables=["items", "sales"], partition="snapshot_date=2025-01-01")
    assert both.targets() == {"items": "snapshot_date=2025-01-01", "sales": "snapshot_date=2025-01-01"}


def test_a_missing_bucket_fails_instead_of_waiting(object_lake: ObjectLake) -> None:
    lake = (f"{object_lake.scheme}://no-such-{object_lake.bucket}/bronze", object_lake.conn_id)
    with pytest.raises(AirflowFailException, match=r"no such bucket.*fix lake.url"):
        _sensor(lake).poke({})
    event = _event(
        LakePartitionTrigger(
            lake_url=lake[0],
            lake_conn_id=lake[1],
            source="pos",
            partitions={"items": "snapshot_date=2025-01-01"},
        )
    )
    assert event.payload["status"] == "error" and event.payload["permanent"]
    assert "no such bucket" in event.payload["message"]


# -- deferrable ------------------------------------------------------------------------------


def test_deferrable_execute_defers_to_a_serializable_trigger(
    lake: tuple[str, str | None], tmp_path: Path
) -> None:
    sensor = _sensor(lake, deferrable=True, poke_interval=7, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, LakePartitionTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == dt.timedelta(seconds=120)

    classpath, kwargs = trigger.serialize()
    assert classpath == "tributary.triggers.lake_partition.LakePartitionTrigger"
    from airflow.sdk._shared.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "lake_url": lake[0],
        "lake_conn_id": lake[1],
        "source": "pos",
        "partitions": {"items": "snapshot_date=2025-01-01"},
        "poke_interval": 7.0,
        "fail_on_incomplete": False,
    }

    # committed before the task runs: no deferral at all
    write_partition(lake_root(*lake), tmp_path / "staging")
    assert _sensor(lake, deferrable=True).execute({})["items"]["batch_id"] == "b1"


def test_the_trigger_fires_when_the_partition_is_committed_while_it_waits(
    lake: tuple[str, str | None], tmp_path: Path
) -> None:
    trigger = LakePartitionTrigger(
        lake_url=lake[0],
        lake_conn_id=lake[1],
        source="pos",
        partitions={"items": "snapshot_date=2025-01-01"},
        poke_interval=0.2,
    )

    async def scenario() -> Any:
        waiting = asyncio.create_task(_first_event(trigger, 30))
        await asyncio.sleep(1.0)
        assert not waiting.done(), "nothing committed yet: the trigger keeps waiting"
        await asyncio.to_thread(write_partition, lake_root(*lake), tmp_path / "staging")
        return await waiting

    event = asyncio.run(scenario())
    assert event.payload["status"] == "success"
    assert event.payload["partitions"]["items"]["batch_id"] == "b1"
    assert _sensor(lake).execute_complete({}, event.payload)["items"]["batch_id"] == "b1"


def test_the_trigger_keeps_waiting_on_an_incomplete_manifest(
    lake: tuple[str, str | None], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_partition(lake_root(*lake), tmp_path / "staging")
    _remove_part(lake, "part-b1-00000.parquet")
    partitions = {"items": "snapshot_date=2025-01-01"}
    trigger = LakePartitionTrigger(
        lake_url=lake[0], lake_conn_id=lake[1], source="pos", partitions=partitions, poke_interval=0.2
    )
    with caplog.at_level(logging.WARNING), pytest.raises(TimeoutError):
        _event(trigger, timeout=1.5)
    assert any("part-b1-00000.parquet: missing" in r.getMessage() for r in caplog.records)

    strict = LakePartitionTrigger(
        lake_url=lake[0],
        lake_conn_id=lake[1],
        source="pos",
        partitions=partitions,
        poke_interval=0.2,
        fail_on_incomplete=True,
    )
    event = _event(strict)
    assert event.payload["status"] == "error" and event.payload["permanent"]
    with pytest.raises(AirflowFailException, match=r"part-b1-00000\.parquet: missing"):
        _sensor(lake).execute_complete({}, event.payload)


def test_execute_complete_raises_the_trigger_errors() -> None:
    sensor = _sensor(("file:///tmp/nowhere", None))
    with pytest.raises(AirflowException, match="boom") as caught:
        sensor.execute_complete({}, {"status": "error", "permanent": False, "message": "boom"})
    assert not isinstance(caught.value, AirflowFailException)


# -- templating and the pipeline helper ------------------------------------------------------


def test_partitions_are_templated() -> None:
    sensor = LakePartitionSensor(
        task_id="wait",
        lake_url="s3://lake/bronze",
        lake_conn_id="lake_s3",
        source="pos",
        table="sales",
        partition="month={{ data_interval_start.strftime('%Y-%m') }}",
    )
    sensor.render_template_fields({"data_interval_start": dt.datetime(2025, 10, 1, tzinfo=dt.UTC)})
    assert sensor.targets() == {"sales": "month=2025-10"}
    sensor.partition = "2025-10"
    with pytest.raises(AirflowFailException, match="not of the form key=value"):
        sensor.targets()


def test_a_sensor_for_every_table_of_a_pipeline(tmp_path: Path) -> None:
    config_file = tmp_path / "pos.yaml"
    config_file.write_text(
        "source: {name: pos, conn_id: pos_db}\n"
        "lake: {url: 's3://lake/bronze', conn_id: lake_s3}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\n"
        "tables:\n"
        "  - {name: sales, mode: window, date_column: sales_date}\n"
        "  - {name: items, mode: full}\n"
    )
    sensor = LakePartitionSensor.for_pipeline(load_config(config_file), task_id="wait")
    sensor.render_template_fields({"data_interval_start": dt.datetime(2025, 10, 1, tzinfo=dt.UTC)})
    assert (sensor.lake_url, sensor.lake_conn_id, sensor.source) == ("s3://lake/bronze", "lake_s3", "pos")
    assert sensor.targets() == {"items": "snapshot_date=2025-10-01", "sales": "month=2025-10"}
    with pytest.raises(ValueError, match="not in the pipeline"):
        LakePartitionSensor.for_pipeline(load_config(config_file), task_id="w", tables=["nope"])


def test_watermark_and_file_tables_have_no_partition_to_name_ahead() -> None:
    shop = load_config(Path(__file__).parents[1] / "fixtures" / "files" / "shop.yaml")
    with pytest.raises(ValueError, match=r"watermark or file tables.*schedule on their Assets"):
        LakePartitionSensor.for_pipeline(shop, task_id="w")  # no table to wait for
    with pytest.raises(ValueError, match=r"\['orders'\] are watermark or file tables"):
        LakePartitionSensor.for_pipeline(shop, task_id="w", tables=["orders"])


def test_arguments_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="give a table"):
        LakePartitionSensor(task_id="w", lake_url="file:///x", source="pos", table="items")
    with pytest.raises(ValueError, match="either partitions"):
        LakePartitionSensor(
            task_id="w",
            lake_url="file:///x",
            source="pos",
            table="t",
            partition="a=b",
            partitions={"t": "a=b"},
        )


def test_deferrable_by_default_follows_airflows_setting_at_run_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default is read when the task runs: a sensor built before the setting changes obeys it."""
    lake = ((tmp_path / "lake").as_uri(), None)
    sensor = _sensor(lake)
    assert sensor.deferrable is None  # nothing resolved when the DAG file was parsed
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert sensor.should_defer() is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert sensor.should_defer() is False
    assert _sensor(lake, deferrable=True).should_defer() is True
