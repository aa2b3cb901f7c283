import gzip
from pathlib import Path

import pytest

from annotator.engine.errors import AnnotationError
from annotator.engine.fasta import Reference
from tiny_models import write_fasta

VT = Path("/usr/share/doc/vt/examples/ref/20.fa.gz")


def test_plain_fasta_fetch_aliases(tmp_path):
    path = write_fasta(tmp_path, {"1": "acgtACGTNN" * 10, "MT": "GATTACA"})
    ref = Reference.open(path)
    assert ref.fetch("1", 1, 4) == "ACGT"        # upper-cased
    assert ref.fetch("chr1", 5, 8) == "ACGT"     # alias
    assert ref.fetch("chrM", 1, 7) == "GATTACA"
    assert ref.fetch("1", 99, 200) == "NN"       # clipped at the end
    with pytest.raises(AnnotationError):
        ref.fetch("7", 1, 2)


def test_plain_fasta_without_index_indexes_into_cache(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.fa").write_text(">chr2\nACGTTT\n")
    ref = Reference.open(src / "x.fa", cache_dir=tmp_path / "cache")
    assert ref.fetch("2", 2, 5) == "CGTT"
    assert not (src / "x.fa.fai").exists()
    assert (tmp_path / "cache" / "x.fa.fai").exists()


def test_plain_gzip_is_decompressed_once(tmp_path):
    with gzip.open(tmp_path / "g.fa.gz", "wt") as fh:
        fh.write(">20\nAAAACCCCGGGGTTTT\n")
    ref = Reference.open(tmp_path / "g.fa.gz", cache_dir=tmp_path / "c")
    assert ref.fetch("chr20", 4, 9) == "ACCCCG"
    assert (tmp_path / "c" / "g.fa").exists()


@pytest.mark.skipif(not VT.exists(), reason="vt example FASTA not installed")
def test_vt_bgzip_with_gzipped_gzi(tmp_path):
    before = sorted(p.name for p in VT.parent.iterdir())
    ref = Reference.open(VT, cache_dir=tmp_path)
    assert ref.length("20") == 63025520
    assert ref.fetch("chr20", 60000001, 60000010) == "AAAAACTGGA"
    assert ref.fetch("20", 1, 5) == "NNNNN"
    assert sorted(p.name for p in VT.parent.iterdir()) == before  # nothing written there


def test_prefetch_answers_like_fetch(tmp_path):
    import numpy as np

    from annotator.engine.fasta import Prefetch
    seq = "ACGTTGCAAC" * 30
    ref = Reference.open(write_fasta(tmp_path, {"1": seq}))
    pre = Prefetch(ref, "chr1", np.array([10, 40, 280]), np.array([20, 50, 400]), gap=5)
    assert len(pre.lo) == 3                          # 10-20 and 40-50 stay apart (gap 5)
    for s, e in [(10, 20), (12, 15), (40, 50), (290, 300), (295, 900), (1, 5), (18, 45), (0, 3)]:
        assert pre.fetch(s, e) == ref.fetch("1", s, e)  # outside the stretches: falls back
    codes, held = pre.codes(np.array([10, 21, 300, 301]))
    assert held.tolist() == [True, False, True, False]   # 301 is past the contig end
    assert bytes(codes[held]).decode() == seq[9] + seq[299]
