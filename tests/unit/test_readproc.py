"""The reader process's framing survives signals that interrupt its pipe writes."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from annotator.engine.readproc import PIPE_BYTES, ParsedChunks
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


def test_the_child_parses_ahead_into_a_wide_pipe_while_the_parent_is_busy(tmp_path):
    """The parent loads the model before it reads: the child meanwhile fills the pipe (1 MB,
    not Linux's default 64 KB) and its queue, and the chunks then arrive in order."""
    import fcntl
    import termios
    vcf = _vcf(tmp_path / "in.vcf", 60_000)
    with ParsedChunks(vcf, 5_000) as parsed:
        stdout = parsed._proc.stdout
        assert fcntl.fcntl(stdout.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
        deadline = time.monotonic() + 20
        waiting = bytearray(4)
        while time.monotonic() < deadline:
            fcntl.ioctl(stdout.fileno(), termios.FIONREAD, waiting)
            if int.from_bytes(waiting, "little") > PIPE_BYTES // 2:
                break
            time.sleep(0.05)
        assert int.from_bytes(waiting, "little") > PIPE_BYTES // 2   # 8x what the old pipe could hold
        got = [int(c.pos[0]) for c in parsed]
    assert got == [1000 + 5_000 * i for i in range(12)]


def test_the_child_exits_by_itself_when_the_parent_stops_reading(tmp_path):
    """A parent that goes away (its end of the pipe closed) must not leave the child blocked on
    a full pipe or a full queue."""
    vcf = _vcf(tmp_path / "in.vcf", 60_000)
    parsed = ParsedChunks(vcf, 5_000)
    try:
        next(iter(parsed))
        parsed._proc.stdout.close()
        assert parsed._proc.wait(timeout=20) == 0
    finally:
        parsed.close()
