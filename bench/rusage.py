"""Run a command and write its peak RSS, CPU and exit status as JSON: GNU ``time -v`` in brief.

    python -I -S bench/rusage.py OUTFILE command [args...]

For machines without GNU time. The command is started from this small process (run with ``-I
-S``: a few MiB), so the peak RSS it reports is the command's own: Linux keeps a process's peak
RSS across ``exec``, and this process's few MiB are the floor instead of the runner's.
"""

import json
import os
import sys


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    with open(out, "w") as fh:
        json.dump({"maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime, "rc": rc}, fh)
    return rc


if __name__ == "__main__":
    sys.exit(main())
