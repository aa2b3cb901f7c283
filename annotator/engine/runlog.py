"""NAME.log: the readable run log, written line by line as the run goes (timestamps in UTC)."""
from __future__ import annotations

import time
from pathlib import Path


class RunLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "w", encoding="utf-8")
        self._t0 = time.perf_counter()

    def line(self, text: str) -> None:
        if self._f.closed:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._f.write(f"{stamp} +{time.perf_counter() - self._t0:7.2f}s  {text}\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
