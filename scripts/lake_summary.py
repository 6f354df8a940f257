"""Print, per table and partition of a pipeline's lake: rows written, source rows, parity, path."""

from __future__ import annotations

import sys

from tributary.config import PipelineConfig, load_config
from tributary.lake import MANIFEST, SUCCESS
from tributary.manifest import Manifest


def print_summary(config: PipelineConfig) -> bool:
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(config.lake.resolved_url(), conn_id=config.lake.conn_id)
    source_root = root / config.source.name
    print(f"\n== lake {source_root}")
    print(f"{'table':<14} {'partition':<44} {'rows':>9} {'source':>9} {'parity':<6} {'_SUCCESS':<8} files")
    all_ok = True
    for table in sorted(config.tables, key=lambda t: t.name):
        table_dir = source_root / table.name
        partitions = sorted(p for p in table_dir.iterdir() if p.is_dir()) if table_dir.exists() else []
        if not partitions:
            print(f"{table.name:<14} {'(nothing)':<44}")
            all_ok = False
        for part in partitions:
            manifest = Manifest.from_json((part / MANIFEST).read_text())
            committed = (part / SUCCESS).exists()
            # tombstones (deletes=): the keys the lake held and the source lost, no count to match
            tombstones = manifest.deleted_keys is not None
            ok = committed and (tombstones or manifest.source_query_rows == manifest.rows)
            all_ok &= ok
            source = "-" if manifest.source_query_rows is None else f"{manifest.source_query_rows:,}"
            parity = "n/a" if tombstones and committed else ("OK" if ok else "FAIL")
            print(
                f"{table.name:<14} {part.name:<44} {manifest.rows:>9,} {source:>9} "
                f"{parity:<6} {'yes' if committed else 'no':<8} {part}"
            )
    return all_ok


if __name__ == "__main__":
    sys.exit(0 if print_summary(load_config(sys.argv[1])) else 1)
