"""Run one command and print its wall time and memory as JSON (used by bench.anchor).

- peak_rss_mb: the command's own peak RSS (wait4). Why a separate launcher: Linux keeps
  ru_maxrss across fork+exec, so a child forked from a big benchmark process would report the
  parent's high-water mark; forked from this small launcher it reports its own.
- peak_tree_rss_mb: the sum, over the command and every descendant it started, of each process's
  own peak RSS (the kernel's VmHWM, polled every 20 ms). An upper bound of the tree's peak:
  the processes' peaks need not coincide, and shared library pages count once per process.
  Why not PSS: reading /proc/PID/smaps_rollup walks the page tables under the target's mmap lock,
  about 12 ms for a 600 MB process, so sampling it every 20 ms took a third of a core from the
  measured command on a 2-core machine and slowed it by ~10 % (measured 2026-11-28). VmHWM is
  one field of /proc/PID/status (~0.03 ms) and is exact for each process between samples.
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


def _hwm_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM); 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    cmd = sys.argv[1:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in _descendants(proc.pid):
                peaks[p] = max(peaks.get(p, 0), _hwm_kb(p))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    peaks[proc.pid] = max(peaks.get(proc.pid, 0), usage.ru_maxrss)   # exact, even after the last sample
    print(json.dumps({"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "peak_tree_rss_mb": sum(peaks.values()) / 1024, "processes": len(peaks),
                      "returncode": os.waitstatus_to_exitcode(status), "stderr": err[-2000:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
