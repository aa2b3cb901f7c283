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
