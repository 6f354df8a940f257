"""The commit protocol on a local lake: _SUCCESS goes first and comes last, stale parts go."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tributary.errors import IncompletePartitionError, StrayFilesError
from tributary.lake import MANIFEST, SUCCESS, Partition
from tributary.manifest import Manifest, ManifestFile


def _manifest(files: dict[str, bytes]) -> Manifest:
    return Manifest(
        source="pos",
        table="sales",
        mode="window",
        partition="month=2025-01",
        batch_id="b2",
        created_at=dt.datetime.now(dt.UTC),
        rows=len(files),
        files=[ManifestFile(name=n, rows=1, bytes=len(b), sha256="x") for n, b in files.items()],
        schema=[],
    )


@pytest.fixture
def staged(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    staging = tmp_path / "staging"
    staging.mkdir()
    files = {"part-b2-00000.parquet": b"new-0", "part-b2-00001.parquet": b"new-1!"}
    for name, body in files.items():
        (staging / name).write_bytes(body)
    return staging, files


def test_a_rewrite_drops_success_first_and_stale_parts_before_the_manifest(tmp_path, staged) -> None:
    staging, files = staged
    partition = Partition(tmp_path / "lake", "pos", "sales", "month", "2025-01")
    partition.path.mkdir(parents=True)
    (partition.path / "part-b1-00000.parquet").write_bytes(b"old")
    (partition.path / SUCCESS).write_text("{}")

    partition.begin()
    assert not partition.is_committed()
    partition.publish(staging, list(files))
    assert sorted(p.name for p in partition.path.iterdir()) == sorted(files)

    manifest = _manifest(files)
    partition.write_manifest(manifest)
    assert not partition.is_committed(), "the manifest alone does not complete a partition"
    partition.commit(manifest)
    assert partition.is_committed()
    assert partition.read_manifest() == manifest
    assert (partition.path / MANIFEST).exists()


def test_commit_refuses_a_partition_with_a_missing_or_truncated_file(tmp_path, staged) -> None:
    staging, files = staged
    partition = Partition(tmp_path, "pos", "sales", "month", "2025-01")
    partition.publish(staging, list(files))
    manifest = _manifest(files)
    partition.write_manifest(manifest)
    (partition.path / "part-b2-00001.parquet").write_bytes(b"cut")
    (partition.path / "part-b2-00000.parquet").unlink()
    with pytest.raises(IncompletePartitionError, match=r"part-b2-00000.parquet: missing.*3 bytes"):
        partition.commit(manifest)
    assert not partition.is_committed()


def test_reading_the_manifest_of_a_partition_never_extracted(tmp_path) -> None:
    partition = Partition(tmp_path, "pos", "sales", "month", "2025-01")
    with pytest.raises(IncompletePartitionError, match=r"no _manifest\.json"):
        partition.read_manifest()


def test_commit_refuses_a_partition_holding_a_data_file_its_manifest_does_not_list(tmp_path, staged) -> None:
    staging, files = staged
    partition = Partition(tmp_path, "pos", "sales", "month", "2025-01")
    partition.publish(staging, list(files))
    manifest = _manifest(files)
    partition.write_manifest(manifest)
    (partition.path / "part-b9-00000.parquet").write_bytes(b"another run's")
    with pytest.raises(StrayFilesError, match=r"does not list: part-b9-00000\.parquet\..*re-run") as caught:
        partition.commit(manifest)
    assert caught.value.permanent
    assert not partition.is_committed()

    (partition.path / "part-b9-00000.parquet").unlink()
    partition.commit(manifest)
    marker = json.loads((partition.path / SUCCESS).read_text())
    assert marker == {"batch_id": "b2", "rows": 2, "files": 2, "parts": sorted(files)}
    assert partition.committed_manifest() == manifest
    assert partition.state().files == sorted(files)


def test_a_manifest_of_another_batch_than_success_names_is_not_read(tmp_path, staged) -> None:
    staging, files = staged
    partition = Partition(tmp_path, "pos", "sales", "month", "2025-01")
    partition.publish(staging, list(files))
    partition.write_manifest(_manifest(files))
    partition.commit(_manifest(files))
    # a re-run that lost its _SUCCESS race: the manifest is the new batch's, _SUCCESS the old one's
    partition.write_manifest(_manifest(files).model_copy(update={"batch_id": "b3"}))
    with pytest.raises(IncompletePartitionError, match=r"_SUCCESS is of batch b2, the manifest of batch b3"):
        partition.committed_manifest()
