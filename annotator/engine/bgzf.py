"""A BGZF writer whose blocks are compressed on worker threads.

Why not pysam's BGZFile: it compresses on the calling thread and holds the GIL, and an
annotated VCF is ~380 bytes of text per variant, so compression alone took ~2.3 s per
million variants on the critical path. deflate (zlib or ISA-L) releases the GIL, so blocks compressed on a small
thread pool overlap with annotation. The format is the SAM/BAM spec's BGZF: gzip members of at
most 64 KiB input, each carrying its compressed size in a 'BC' extra field, then an empty EOF
block; any gzip reader, tabix and htslib read it.

Deflate comes from ISA-L (the `isal` package, python-isal, as used by xopen and cutadapt): on
60 MB of our annotated VCF its level 1 compressed in 0.03 s to a ratio of 14.1, where zlib's
level 3 took 0.12 s for 14.5 and zlib's default 6 0.34 s for 17.0 (2026-11-28). On two cores
every CPU second spent beside the chunk work shows in the wall time.
"""
from __future__ import annotations

import os
import struct
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from isal import isal_zlib

BLOCK_INPUT = 0xFF00  # htslib's BGZF_BLOCK_SIZE: leaves room for incompressible data in 64 KiB
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_HEADER = struct.Struct("<4BI2BH2BHH")  # magic, CM, FLG | MTIME | XFL, OS | XLEN | SI1, SI2 | SLEN | BSIZE


BACKGROUND_NICE = 10   # niceness of the threads that compress and write beside the chunk work


def background_thread() -> None:
    """Thread initializer: lower this thread's CPU priority (Linux: a thread is a task with its
    own nice value). On two cores the compression and parquet threads otherwise take turns with
    the main thread, which does the chunk work everything else waits for; niced, they use the
    time it leaves. Best effort: where it is not allowed, nothing changes.

    Not SCHED_IDLE, although it gave the main thread ~3 % more on an idle machine: beside two
    busy nice-0 processes a 100k-variant run then took 85-100 s instead of 3.3-4.4 s, because
    idle-class threads get almost no CPU on a loaded host and the whole run waits for them."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass


BLOCKS_PER_TASK = 8   # 512 KB of text per compression task
LEVEL = 1   # ISA-L levels are 0-3; 2 and 3 gave no smaller output on annotated VCF text


def compress_block(data: bytes | memoryview, level: int = LEVEL) -> bytes:
    c = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    deflated = c.compress(data) + c.flush()
    bsize = _HEADER.size + len(deflated) + 8 - 1
    header = _HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, bsize)
    return header + deflated + struct.pack("<II", isal_zlib.crc32(data), len(data))


def compress_blocks(blocks: list[bytes | memoryview], level: int = LEVEL) -> bytes:
    return b"".join([compress_block(block, level) for block in blocks])


class BgzfWriter:
    """write() queues blocks for compression; output order is kept; close() writes the EOF block."""

    def __init__(self, path: Path, threads: int = 2, level: int = LEVEL) -> None:
        self._f = open(path, "wb")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bgzf",
                                        initializer=background_thread)
        self._pending: deque[Future] = deque()
        self._buf = bytearray()
        self._level = level
        self._max_pending = threads * 2   # tasks queued or running (each up to BLOCKS_PER_TASK blocks)

    def write(self, data: bytes | memoryview) -> None:
        """Full blocks are compressed from views of `data` (it must not change afterwards; the
        engine hands over each chunk's text once), a few per task: copying ~330 MB of text per
        1M variants through a buffer, and a task per 64 KB block, cost 0.26 s of the writing
        thread. Only a partial block is kept."""
        view = memoryview(data).cast("B")
        blocks: list[bytes | memoryview] = []
        if self._buf:
            fill = BLOCK_INPUT - len(self._buf)
            self._buf += view[:fill]
            view = view[fill:]
            if len(self._buf) < BLOCK_INPUT:
                return
            blocks.append(bytes(self._buf))
            self._buf.clear()
        whole = len(view) - len(view) % BLOCK_INPUT
        blocks += [view[start:start + BLOCK_INPUT] for start in range(0, whole, BLOCK_INPUT)]
        self._buf += view[whole:]
        for first in range(0, len(blocks), BLOCKS_PER_TASK):
            self._submit(blocks[first:first + BLOCKS_PER_TASK])

    def _submit(self, blocks: list[bytes | memoryview]) -> None:
        self._pending.append(self._pool.submit(compress_blocks, blocks, self._level))
        while len(self._pending) > self._max_pending:
            self._f.write(self._pending.popleft().result())

    def close(self) -> None:
        if self._f.closed:
            return
        try:
            if self._buf:
                self._submit([bytes(self._buf)])
                self._buf.clear()
            while self._pending:
                self._f.write(self._pending.popleft().result())
            self._f.write(EOF_BLOCK)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._f.close()

    def __enter__(self) -> "BgzfWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
