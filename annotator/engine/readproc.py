"""VCF chunks parsed in a separate process and handed over through a pipe.

Why: parsing (splitting lines, normalising alleles) is Python that holds the GIL, and on a
read-ahead thread it competed with the chunk work for it. In its own process it runs on the
other core; the main thread only unpickles the chunk (about a seventh of the cost of parsing).
The child also computes the chunk's derived values (prep.prepare: Arrow columns, CHROM codes),
which the main thread would otherwise build.

The child is a plain `python -c` subprocess, not a multiprocessing one: those re-import the
parent's main module, which breaks (or re-runs) an unguarded script that calls annotate(). It
opens the file itself and reads it as the parent's reader would (same `open_vcf` arguments), so
chunks, errors and their line numbers are the same; an error is sent in place of the chunk where
it happened and raised when the parent reaches it, as with the thread. Frames on the child's
stdout: 8-byte length, then a pickle of ("chunk", VcfChunk, bytes_read), ("end", None, 0) or
("error", exception, 0). The child parses up to PARSE_AHEAD chunks ahead of the one being
handed over (it starts before the parent loads the model, which takes ~0.4 s); if the parent
dies, the child's next write fails and it exits.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

from annotator.engine.compressed import is_gzip
from annotator.engine.errors import AnnotationError

if TYPE_CHECKING:     # not imported at run time: this module stays light (see start_for)
    from annotator.engine.variants import VcfChunk

_HEAD = struct.Struct("<Q")
PIPE_BYTES = 1 << 20
PARSE_AHEAD = 6     # chunks the child may hold ready beyond the pipe (~2.5 MB each for 20k sites-only records)
_ROOT = str(Path(__file__).resolve().parents[2])    # the folder holding the `annotator` package
# Inputs with about this much text or more are parsed in a separate process (parsing holds the
# GIL much of the time, and on a thread it slows the main thread's chunk work); smaller ones on
# a read-ahead thread, where starting another interpreter (~0.2 s of CPU) does not pay.
# Measured (2026-11-28, 2 cores, medians): premium_3.vcf (2.8 MB, 3,431 records) 0.53 -> 0.49 s
# and 250k sites-only records (1.25 MB gzip) 1.43-1.47 -> 1.33-1.40 s on the thread; 1M records
# (4.6 MB gzip) 3.8-4.0 s in the process against 4.0-4.4 s on the thread.
PARSE_PROCESS_BYTES = 8 << 20
GZIP_TEXT_RATIO = 5     # a gzip/bgzip input's text, estimated from its size (sites-only VCF: ~5.5)
CHUNK_SIZE = 20_000     # records a chunk: annotate()'s default, here because the CLI needs it first


def _write_all(fd: int, data: bytes) -> None:
    """os.write until all of `data` is in the pipe. Why not sys.stdout.buffer: under `python -u`
    or PYTHONUNBUFFERED it is the raw file, whose write() is one write(2) call, and a signal
    (SIGSTOP/SIGCONT, a profiler attaching) can end that call after part of a large frame; the
    rest was lost and the parent failed to unpickle the next frame."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child_main(path: str, chunk_size: int) -> None:
    """Runs in the child: parse `path`, write frames to stdout. Frames go out from a sender
    thread with up to PARSE_AHEAD of them queued, so the child keeps parsing while the parent
    is still loading the model, or busy with a chunk (writing to the pipe releases the GIL)."""
    out = sys.stdout.fileno()
    frames: queue.Queue[bytes | None] = queue.Queue(PARSE_AHEAD)

    def sender() -> None:
        try:
            while (frame := frames.get()) is not None:
                _write_all(out, _HEAD.pack(len(frame)))
                _write_all(out, frame)
        except BrokenPipeError:      # the parent stopped reading: nothing left to do
            os._exit(0)

    thread = threading.Thread(target=sender, name="send", daemon=True)
    thread.start()

    def send(item: tuple) -> None:
        frames.put(pickle.dumps(item, protocol=5))

    try:
        from annotator.engine.prep import prepare
        from annotator.engine.vcf import open_vcf
        with open_vcf(Path(path), chunk_size=chunk_size) as reader:
            for chunk in reader.chunks():
                prepare(chunk)
                send(("chunk", chunk, reader.bytes_read))
        send(("end", None, 0))
    except KeyboardInterrupt:
        return
    except BaseException as exc:     # noqa: BLE001 - every failure goes to the parent
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
            exc = AnnotationError(str(exc))
        send(("error", exc, 0))
    frames.put(None)
    thread.join()


def _widen(pipe: IO[bytes] | None) -> None:
    """A 1 MB pipe instead of 64 KB: a 2.5 MB frame then crosses in 3 wake-ups of the reader, not
    40 (measured: the main thread waited 0.3 s per 1M records on the narrow pipe). Best effort:
    Linux only, and the system may cap the size (fs.pipe-max-size)."""
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass


def text_bytes(path: Path) -> int:
    """The input's size as text: its size, times GZIP_TEXT_RATIO when it is gzip/bgzip."""
    size = path.stat().st_size
    return size * GZIP_TEXT_RATIO if is_gzip(path) else size


def start_for(path: Path, chunk_size: int) -> ParsedChunks | None:
    """A reader process for `path` when it is large enough to pay for one (PARSE_PROCESS_BYTES),
    else None. This module imports neither numpy nor pyarrow, so a caller can start the child
    first and import the engine while the child starts: the CLI does (measured on 1M records:
    the main thread otherwise waited 0.085-0.1 s for the first chunk)."""
    path = Path(path)
    if path.is_file() and text_bytes(path) >= PARSE_PROCESS_BYTES:
        return ParsedChunks(path, chunk_size)
    return None


class ParsedChunks:
    """Iterate chunks of `path` parsed by a child process; `bytes_read` as the reader's."""

    def __init__(self, path: Path, chunk_size: int) -> None:
        self.path, self.chunk_size = Path(path), int(chunk_size)
        code = (f"import sys; sys.path.insert(0, {_ROOT!r}); "
                f"from annotator.engine.readproc import _child_main; _child_main(sys.argv[1], {int(chunk_size)})")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        _widen(self._proc.stdout)
        self.bytes_read = 0

    def _read(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self._proc.stdout.readinto(view[got:])
            if not k:
                self._proc.wait()
                self._stderr.seek(0)
                tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:]
                raise AnnotationError("the VCF reader process ended unexpectedly (exit code "
                                      f"{self._proc.returncode}){': ' + tail[0] if tail else ''}")
            got += k
        return bytes(buf) if n < 64 else buf

    def __iter__(self) -> Iterator[VcfChunk]:
        while True:
            (size,) = _HEAD.unpack(self._read(_HEAD.size))
            kind, payload, nbytes = pickle.loads(self._read(size))
            if kind == "end":
                return
            if kind == "error":
                raise payload
            self.bytes_read = nbytes
            yield payload

    def close(self) -> None:
        """Idempotent: stops the child if it still runs."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
