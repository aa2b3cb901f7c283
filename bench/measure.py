"""Run one command and print its wall time and peak RSS as JSON (used by bench.anchor).

Why a separate process: Linux keeps ru_maxrss across fork+exec, so a child forked from a big
benchmark process reports the parent's high-water mark. Forked from this small launcher, the
measured child's own peak is what wait4 returns.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    cmd = sys.argv[1:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "returncode": os.waitstatus_to_exitcode(status), "stderr": err[-2000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
