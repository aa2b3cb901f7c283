"""The reader process's framing survives signals that interrupt its pipe writes."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from annotator.engine.readproc import ParsedChunks
from annotator.engine.vcf import open_vcf


def _vcf(path: Path, n: int) -> Path:
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"1\t{1000 + i}\trs{i}\tA\t{'CGT'[i % 3]}\t50\tPASS\tDP={i % 97}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chunks_arrive_whole_when_the_child_is_stopped_and_continued(tmp_path, monkeypatch):
    """Under PYTHONUNBUFFERED the child's stdout is the raw file, where one write(2) of a large
    frame can end early on a signal; the parent then read garbage. Found by a profiler and by
    SIGSTOP/SIGCONT; frames are now written until complete."""
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    vcf = _vcf(tmp_path / "in.vcf", 60_000)
    with open_vcf(vcf, chunk_size=5_000) as reader:
        expected = [(c.pos.copy(), list(c.a_alt)) for c in reader.chunks()]
    stop = threading.Event()
    with ParsedChunks(vcf, 5_000) as parsed:
        pid = parsed._proc.pid

        def interrupt() -> None:
            while not stop.is_set():
                try:
                    os.kill(pid, signal.SIGSTOP)
                    time.sleep(0.002)
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    return
                time.sleep(0.003)

        t = threading.Thread(target=interrupt, daemon=True)
        t.start()
        got = []
        try:
            for chunk in parsed:
                time.sleep(0.02)    # a slow consumer: the child waits in write() on a full pipe
                got.append((chunk.pos.copy(), list(chunk.a_alt)))
        finally:
            stop.set()
            t.join()
    assert len(got) == len(expected) == 12
    for (pos, alt), (want_pos, want_alt) in zip(got, expected):
        assert np.array_equal(pos, want_pos) and alt == want_alt
