import gzip
import os

import pysam

from annotator.engine.bgzf import BLOCK_INPUT, EOF_BLOCK, BgzfWriter


def test_output_is_bgzf_that_gzip_and_htslib_read_back_in_order(tmp_path):
    data = b"".join(f"20\t{i}\t.\tA\tG\t.\t.\tCSQ={os.urandom(8).hex()}\n".encode() for i in range(1, 60_000))
    path = tmp_path / "x.vcf.gz"
    with BgzfWriter(path, threads=2) as w:
        for i in range(0, len(data), 70_001):       # writes that straddle block boundaries
            w.write(data[i:i + 70_001])
    assert gzip.decompress(path.read_bytes()) == data
    assert path.read_bytes().endswith(EOF_BLOCK)
    with pysam.BGZFile(str(path), "rb") as f:          # htslib's reader validates BSIZE
        assert f.read() == data
    assert len(data) > 10 * BLOCK_INPUT


def test_empty_file_is_just_the_eof_block(tmp_path):
    path = tmp_path / "e.gz"
    BgzfWriter(path).close()
    assert path.read_bytes() == EOF_BLOCK and gzip.decompress(path.read_bytes()) == b""


def _block_sizes(raw: bytes) -> list[int]:
    """Input size (ISIZE) of each BGZF block, read by walking the BSIZE fields."""
    sizes, at = [], 0
    while at < len(raw):
        bsize = int.from_bytes(raw[at + 16:at + 18], "little") + 1
        sizes.append(int.from_bytes(raw[at + bsize - 4:at + bsize], "little"))
        at += bsize
    return sizes


def test_writes_of_any_size_and_type_make_full_blocks_in_order(tmp_path):
    data = os.urandom(BLOCK_INPUT // 4).hex().encode() * 5 + b"end"   # 2.5 blocks of compressible text
    # small writes, a write that completes a block exactly, views, and one spanning several blocks
    parts = [data[:10], data[10:100], memoryview(data)[100:BLOCK_INPUT], b"", bytearray(data[BLOCK_INPUT:-5]),
             memoryview(data[-5:])]
    path = tmp_path / "v.gz"
    with BgzfWriter(path, threads=2) as w:
        for part in parts:
            w.write(part)
    raw = path.read_bytes()
    assert gzip.decompress(raw) == data
    sizes = _block_sizes(raw)
    assert sizes[-1] == 0                                   # the EOF block
    assert sizes[:-1] == [BLOCK_INPUT] * (len(data) // BLOCK_INPUT) + [len(data) % BLOCK_INPUT]


def test_background_threads_are_niced_not_idle_class():
    """Niced, so that they give way to the chunk work; never SCHED_IDLE, whose threads starve
    (and with them the run) whenever other processes keep the host busy."""
    from concurrent.futures import ThreadPoolExecutor

    from annotator.engine.bgzf import BACKGROUND_NICE, background_thread

    def priority() -> tuple[int, int]:
        return os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)

    with ThreadPoolExecutor(1, initializer=background_thread) as pool:
        policy, nice = pool.submit(priority).result()
    assert policy == os.SCHED_OTHER and nice == max(BACKGROUND_NICE, os.getpriority(os.PRIO_PROCESS, 0))
