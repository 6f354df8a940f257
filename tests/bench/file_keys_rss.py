"""Peak RSS of one file-table extract of a 2M-key .csv.gz (the primary-key check's memory).

Not a test: run it by hand, in a process of its own, against a plugins folder (this tree's, or
an older tree's from ``git archive <commit> plugins include | tar -x -C /tmp/old``):

    .venv/bin/python tests/bench/file_keys_rss.py plugins
    .venv/bin/python tests/bench/file_keys_rss.py /tmp/old/plugins
"""

from __future__ import annotations

import gzip
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

KEYS = 2_000_000


def main(plugins: str) -> None:
    sys.path.insert(0, plugins)
    from tributary.config import FileTableConfig
    from tributary.files.extract import Landing, extract_files
    from tributary.hooks.lake import lake_root

    table = FileTableConfig.model_validate(
        {
            "name": "keys",
            "glob": "*.csv.gz",
            "format": "csv",
            "contract": {
                "columns": [
                    {"name": "id", "type": "int64", "nullable": False},
                    {"name": "code", "type": "string"},
                ],
                "primary_key": ["id"],
            },
        }
    )
    with tempfile.TemporaryDirectory() as landing, tempfile.TemporaryDirectory() as lake:
        with gzip.open(Path(landing) / "keys.csv.gz", "wt", compresslevel=9) as fh:
            fh.write("id,code\n")
            fh.writelines(f"{i},{i % 97}\n" for i in range(1, KEYS + 1))
        size = (Path(landing) / "keys.csv.gz").stat().st_size
        settled = time.time() - 3600  # older than any quiet period: loaded now
        os.utime(Path(landing) / "keys.csv.gz", (settled, settled))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        url = Path(landing).as_uri()
        manifest = extract_files(
            table,
            source="bench",
            landing=Landing(lake_root(url, None), url),
            lake_root=lake_root(Path(lake).as_uri(), None),
        )
        took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{KEYS:,} keys, {size / 2**20:.1f} MiB .csv.gz: rows={manifest.rows:,} "
        f"rejected={len(manifest.rejected_files)} "
        f"peak RSS before the extract {before / 1024:.0f} MiB, after {peak / 1024:.0f} MiB ({took:.1f} s)"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "plugins"))
