"""Run one command and print its wall time and memory as JSON (used by bench.anchor).

- peak_rss_mb: the command's own peak RSS (wait4). Why a separate launcher: Linux keeps
  ru_maxrss across fork+exec, so a child forked from a big benchmark process would report the
  parent's high-water mark; forked from this small launcher it reports its own.
- peak_tree_pss_mb: the peak, sampled every 20 ms, of the summed PSS of the command and all its
  descendants. PSS splits pages shared copy-on-write between the processes that share them, so
  worker processes are counted fairly (summing their RSS would count the shared model twice).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    cmd = sys.argv[1:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(_pss_kb(p) for p in _descendants(proc.pid)))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    print(json.dumps({"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "peak_tree_pss_mb": peak[0] / 1024,
                      "returncode": os.waitstatus_to_exitcode(status), "stderr": err[-2000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
