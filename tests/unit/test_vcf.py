"""The VCF reader: every refused input names its line and reason; accepted input parses exactly.

Malformed inputs are built here rather than stored (tests/data/bad_vcf/make_corpus.py writes the
same cases to files for manual runs of other tools).
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.engine import prep
from annotator.engine.errors import VcfFormatError
from annotator.engine.variants import Kind, VcfChunk
from annotator.engine.vcf import open_vcf
from tests.data.bad_vcf.make_corpus import BAD_CASES, COLS, HEAD, gz

COURSE = Path("/work/shared/data/course")


def write(tmp_path: Path, data: bytes | str, name: str = "in.vcf") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def read_all(path: Path, **kw) -> list:
    with open_vcf(path, **kw) as r:
        return list(r.chunks())


def records(*lines: str, head: str = HEAD) -> str:
    return head + "".join(line + "\n" for line in lines)


# -- refused input --------------------------------------------------------------------------

@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_input_names_line_and_reason(tmp_path, case):
    path = write(tmp_path, case.data, case.filename)
    with pytest.raises(VcfFormatError) as err:
        read_all(path, **case.kwargs)
    assert err.value.line_no == case.line_no, str(err.value)
    assert case.fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_error_in_a_later_chunk_keeps_the_file_line_number(tmp_path):
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\t." for i in range(7)] + ["1\t0\t.\tA\tG\t.\t.\t."]
    path = write(tmp_path, records(*lines))
    with open_vcf(path, chunk_size=2) as r:
        got = []
        with pytest.raises(VcfFormatError) as err:
            for c in r.chunks():
                got.append(c.n_records)
    assert got == [2, 2, 2]
    assert err.value.line_no == 10 and "POS must be a positive integer, found '0'" in str(err.value)


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(VcfFormatError, match="cannot open the input: No such file"):
        open_vcf(tmp_path / "nope.vcf")


def test_header_errors_raise_at_open(tmp_path):
    with pytest.raises(VcfFormatError, match="line 1: the first line must be ##fileformat"):
        open_vcf(write(tmp_path, COLS + "1\t1\t.\tA\tG\t.\t.\t.\n"))


def test_decompression_bomb_of_records_is_stopped(tmp_path):
    body = records() + "1\t100\t.\tA\tG\t.\t.\t.\n" * 200_000    # 5 MB that compresses ~100x
    path = write(tmp_path, gzip.compress(body.encode()), "bomb.vcf.gz")
    with pytest.raises(VcfFormatError, match="decompression bomb"):
        read_all(path, max_ratio=10, bomb_floor=1 << 20)
    assert sum(c.n_records for c in read_all(path)) == 200_000  # the defaults accept it


def test_decompression_bomb_of_zeros_is_stopped(tmp_path):
    """200 MB of zeros: the ratio check fires long before the memory is used."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(HEAD.encode())]
    zeros = bytes(1 << 20)
    parts += [comp.compress(zeros) for _ in range(200)]
    parts.append(comp.flush())
    path = write(tmp_path, b"".join(parts), "zeros.vcf.gz")
    assert path.stat().st_size < 1 << 20
    with pytest.raises(VcfFormatError, match="refusing a possible decompression bomb"):
        read_all(path, max_ratio=20, max_line_bytes=1 << 30)
    with pytest.raises(VcfFormatError, match="line 3: line longer than 1048576 bytes"):
        read_all(path)  # with the default line limit the first line of zeros stops it


# -- accepted input -------------------------------------------------------------------------

def test_header_attributes(tmp_path):
    text = ("##fileformat=VCFv4.1\n##contig=<ID=1>\n##INFO=<ID=END,Number=1,Type=Integer,Description=\"e\">\n"
            + COLS.rstrip("\n") + "\tFORMAT\tS1\tS2\n" + "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\n")
    with open_vcf(write(tmp_path, text)) as r:
        assert r.fileformat == "VCFv4.1"
        assert r.header_lines == ["##fileformat=VCFv4.1", "##contig=<ID=1>",
                                  '##INFO=<ID=END,Number=1,Type=Integer,Description="e">']
        assert r.column_header == COLS.rstrip("\n") + "\tFORMAT\tS1\tS2"
        assert r.samples == ["S1", "S2"]
        (c,) = list(r.chunks())
        assert texts(c) == ["1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1"]
        assert r.bytes_read == r.total_bytes == len(text)


def test_kinds_positions_and_alleles(tmp_path):
    text = records(
        "1\t100\trs1\tA\tG\t50\tPASS\tDP=3",            # SNV
        "1\t200\t.\tAC\tGT\t.\t.\t.",                   # MNV
        "2\t300\t.\tA\tAT,AA\t.\t.\t.",                 # INS x2
        "2\t400\t.\tATT\tA\t.\t.\t.",                   # DEL
        "X\t500\t.\tATG\tC\t.\t.\t.",                   # DELINS
        "X\t600\t.\tN\t<DEL>\t.\t.\tSVTYPE=DEL;END=900",  # symbolic
        "Y\t700\t.\tG\tG]17:198982]\t.\t.\t.",           # breakend
        "MT\t800\t.\tA\t*,.\t.\t.\t.",                  # star, none
        "MT\t900\t.\tc\tt\t.\t.\t.",                    # lower case
        "MT\t950\t.\tA\tA\t.\t.\t.",                    # REF == ALT
    )
    (c,) = read_all(write(tmp_path, text))
    assert c.n_records == 10 and c.n_alleles == 12
    assert c.chrom == ["1", "1", "2", "2", "X", "X", "Y", "MT", "MT", "MT"]
    assert c.pos.tolist() == [100, 200, 300, 400, 500, 600, 700, 800, 900, 950]
    assert c.ids[0] == "rs1" and c.ref[8] == "c"
    assert c.line_no.tolist() == list(range(3, 13))
    assert c.a_rec.tolist() == [0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9]
    assert c.a_num.tolist() == [1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1]
    assert c.a_alt == ["G", "GT", "AT", "AA", "A", "C", "<DEL>", "G]17:198982]", "*", ".", "t", "A"]
    assert [Kind(k).name for k in c.a_kind] == ["SNV", "MNV", "INS", "INS", "DEL", "DELINS", "SYMBOLIC",
                                                "SYMBOLIC", "STAR", "NONE", "SNV", "NONE"]
    assert c.a_pos.tolist() == [100, 200, 301, 300, 401, 500, 601, 700, 800, 800, 900, 950]
    assert c.a_end.tolist() == [100, 201, 300, 299, 402, 502, 900, 700, 800, 800, 900, 950]
    assert c.a_ref == ["A", "AC", "", "", "TT", "ATG", "N", "G", "A", "A", "C", "A"]
    assert c.a_alt_n == ["G", "GT", "T", "A", "", "C", "<DEL>", "G]17:198982]", "*", ".", "T", "A"]
    assert c.line_no.dtype == np.int64 and c.a_num.dtype == np.int32 and c.a_kind.dtype == np.int8


def test_chunk_boundaries(tmp_path):
    lines = [f"1\t{100 + i}\t.\tA\t{'G,T' if i % 2 else 'C'}\t.\t.\t." for i in range(5)]
    chunks = read_all(write(tmp_path, records(*lines)), chunk_size=2)
    assert [c.n_records for c in chunks] == [2, 2, 1]
    assert [c.line_no.tolist() for c in chunks] == [[3, 4], [5, 6], [7]]
    assert [c.a_rec.tolist() for c in chunks] == [[0, 1, 1], [0, 1, 1], [0]]
    assert [c.pos.tolist() for c in chunks] == [[100, 101], [102, 103], [104]]
    assert sum((texts(c) for c in chunks), []) == lines


def test_crlf_and_missing_final_newline(tmp_path):
    text = records("1\t100\t.\tA\tG\t.\t.\t.", "1\t101\t.\tA\tT\t.\t.\t.").replace("\n", "\r\n").rstrip("\r\n")
    with open_vcf(write(tmp_path, text)) as r:
        assert r.header_lines == ["##fileformat=VCFv4.2"] and not r.column_header.endswith("\r")
        (c,) = list(r.chunks())
    assert texts(c) == ["1\t100\t.\tA\tG\t.\t.\t.", "1\t101\t.\tA\tT\t.\t.\t."]
    assert c.line_no.tolist() == [3, 4]


def test_blank_lines_are_skipped_and_counted(tmp_path):
    text = records("1\t100\t.\tA\tG\t.\t.\t.", "", "1\t101\t.\tA\tT\t.\t.\t.", "", "")
    chunks = read_all(write(tmp_path, text), chunk_size=2)
    # the last block holds only blank lines: a chunk with no records (progress keeps coming)
    assert [c.line_no.tolist() for c in chunks] == [[3], [5], []]
    assert [c.n_records for c in chunks] == [1, 1, 0]


def test_header_only_is_a_valid_empty_file(tmp_path):
    with open_vcf(write(tmp_path, HEAD)) as r:
        assert list(r.chunks()) == [] and r.samples == []


def test_records_out_of_order_are_kept_in_order_read(tmp_path):
    (c,) = read_all(write(tmp_path, records("2\t500\t.\tA\tG\t.\t.\t.", "1\t100\t.\tA\tG\t.\t.\t.")))
    assert c.chrom == ["2", "1"] and c.pos.tolist() == [500, 100]


def test_gzip_multi_member_and_named_without_gz(tmp_path):
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\t." for i in range(10)]
    text = records(*lines).encode()
    data = gzip.compress(text[:57]) + gzip.compress(text[57:200]) + gzip.compress(text[200:])
    path = write(tmp_path, data, "sample.vcf")  # detected by magic, not by name
    chunks = read_all(path, chunk_size=3)
    assert sum((texts(c) for c in chunks), []) == lines


def test_bgzip_from_pysam(tmp_path):
    pysam = pytest.importorskip("pysam")
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\tX={'A' * (i % 50)}" for i in range(20_000)]
    plain = write(tmp_path, records(*lines))
    pysam.tabix_compress(str(plain), str(tmp_path / "in.vcf.gz"))
    with open_vcf(tmp_path / "in.vcf.gz", chunk_size=7000) as r:
        chunks = list(r.chunks())
        assert r.bytes_read == r.total_bytes
    assert [c.n_records for c in chunks] == [7000, 7000, 6000]
    assert texts(chunks[-1])[-1] == lines[-1] and chunks[-1].line_no[-1] == 20_002


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 300), min_size=1, max_size=60), st.integers(1, 25), st.integers(1, 2000),
       st.booleans())
def test_chunks_are_capped_by_records_and_bytes(tmp_path, info_lengths, chunk_size, chunk_bytes, compress):
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\tX={'A' * n}" for i, n in enumerate(info_lengths)]
    text = records(*lines).encode()
    path = write(tmp_path, gzip.compress(text) if compress else text, "c.vcf")
    # small reads (max_line_bytes bounds the read size), so a cap falls between reads as well
    chunks = read_all(path, chunk_size=chunk_size, chunk_bytes=chunk_bytes, max_line_bytes=400)
    assert [line for c in chunks for line in texts(c)] == lines
    assert np.concatenate([c.line_no for c in chunks]).tolist() == list(range(3, 3 + len(lines)))
    for c in chunks:
        assert 1 <= c.n_records <= chunk_size
        assert c.n_records == 1 or sum(len(line) + 1 for line in texts(c)) <= chunk_bytes


def test_wide_lines_make_smaller_chunks(tmp_path):
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\tX={'A' * 990}" for i in range(100)]   # ~1 KB lines
    chunks = read_all(write(tmp_path, records(*lines)), chunk_size=40, chunk_bytes=10_000)
    assert [c.n_records for c in chunks] == [9] * 11 + [1]
    assert texts(chunks[-1]) == lines[-1:] and chunks[-1].line_no.tolist() == [102]


def test_plain_text_named_gz_is_accepted(tmp_path):
    (c,) = read_all(write(tmp_path, records("1\t1\t.\tA\tG\t.\t.\t."), "x.vcf.gz"))
    assert c.n_records == 1


def test_progress_fraction_grows(tmp_path):
    lines = [f"1\t{100 + i}\t.\tA\tG\t.\t.\t." for i in range(50_000)]
    path = write(tmp_path, gzip.compress(records(*lines).encode()), "p.vcf.gz")
    with open_vcf(path, chunk_size=10_000) as r:
        seen = [r.bytes_read / r.total_bytes for _ in r.chunks()]
    assert seen == sorted(seen) and 0 < seen[0] <= seen[-1] <= 1


@pytest.mark.parametrize("name,n", [("free_1.vcf", 1141), ("free_2.vcf", 2788), ("premium_1.vcf", 3000),
                                    ("premium_2.vcf", 976), ("premium_3.vcf", 3431), ("test.vcf", 350)])
def test_course_files(name, n):
    path = COURSE / name
    if not path.exists():
        pytest.skip("course data not mounted")
    with open_vcf(path, chunk_size=1000) as r:
        chunks = list(r.chunks())
        assert r.fileformat in ("VCFv4.0", "VCFv3.3")
    assert sum(c.n_records for c in chunks) == n
    text = path.read_text().splitlines()
    data = [line for line in text if not line.startswith("#")]
    assert sum((texts(c) for c in chunks), []) == data
    for c in chunks:
        assert c.n_alleles >= c.n_records


# -- fuzzing ---------------------------------------------------------------------------------

VALID = records(
    "1\t100\trs1\tA\tG,T\t50\tPASS\tDP=3", "1\t200\t.\tAC\tA\t.\t.\t.", "2\t300\t.\tN\t<DEL>\t.\t.\tEND=400",
    "X\t5\t.\tG\tG]17:198982]\t.\t.\t.", "MT\t8\t.\tA\t*\t.\t.\t.",
).encode()


def _check(data: bytes, name: str = "f.vcf", **kw) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        try:
            for c in read_all(path, **kw):
                assert c.n_alleles >= c.n_records > 0
                assert len(texts(c)) == len(c.chrom) == len(c.pos) == len(c.line_no)
        except VcfFormatError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans())
def test_fuzz_random_bytes(data, compress):
    _check(gzip.compress(data) if compress else data, chunk_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 3), st.binary(max_size=4)), max_size=6),
       st.sampled_from(["plain", "gzip", "truncated"]), st.integers(1, 4), st.sampled_from([40, 1 << 20]),
       st.sampled_from([30, 1 << 23]))
def test_fuzz_mutated_valid_vcf(edits, form, chunk_size, max_line, chunk_bytes):
    data = bytearray(VALID)
    for at, cut, insert in edits:
        data[at:at + cut] = insert
    raw = bytes(data)
    if form != "plain":
        raw = gzip.compress(raw)
        raw = raw[: len(raw) // 2] if form == "truncated" else raw
    _check(raw, "f.vcf.gz", chunk_size=chunk_size, max_line_bytes=max_line, chunk_bytes=chunk_bytes)


def test_other_compressions_are_named(tmp_path):
    for data, name in [(bz2.compress(VALID), "bzip2"), (lzma.compress(VALID), "xz")]:
        with pytest.raises(VcfFormatError, match=f"unsupported compression \\({name}\\)"):
            open_vcf(write(tmp_path, data))


def test_gz_helper_roundtrip():
    assert gzip.decompress(gz(VALID)) == VALID


_FIELD = st.sampled_from(["1", "chr1", "X", "20", "", "é", "7\t", "007", "0", "+5", "1e3", "123456789012345678",
                          "1234567890123456789", "A", "AT", "G,T", ".", "rs1", "<DEL>", "N", " 1", "12"])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_FIELD, _FIELD, _FIELD, _FIELD, _FIELD, st.sampled_from(["", "\t.", "\tx\ty"])),
                min_size=1, max_size=8),
       st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_the_numpy_fast_path_parses_exactly_as_the_general_path(monkeypatch, rows, newline):
    """Whatever the block, parse_block gives the same chunk (or the same error, line and
    reason) as with its numpy fast path switched off."""
    from annotator.engine import vcf
    block = "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t50\tPASS\tDP=1{extra}{newline}" for c, p, i, r, a, extra in rows).encode()

    def parse() -> object:
        try:
            return vcf.parse_block(block, 10, 8)
        except VcfFormatError as exc:
            return ("error", str(exc), exc.line_no)

    fast = parse()
    with monkeypatch.context() as m:
        m.setattr(vcf, "_regular_fields", lambda *a: None)
        general = parse()
    if isinstance(general, tuple):
        assert fast == general
    else:
        assert_same_chunk(fast, general)


def assert_same_chunk(fast: VcfChunk, general: VcfChunk) -> None:
    """Equal fields, and equal derived values once both are prepared (the fast path fills some
    of them, and its lines, from the block's Arrow buffers)."""
    for chunk in (fast, general):
        prep.prepare(chunk)
    for name, value in vars(general).items():
        other = getattr(fast, name)
        if name == "derived":
            assert value.keys() == other.keys()
            for key in value:
                assert_same_value(value[key], other[key], key)
        else:
            assert_same_value(value, other, name)


def assert_same_value(value: object, other: object, name: str) -> None:
    if isinstance(value, tuple):
        assert len(value) == len(other), name
        for x, y in zip(value, other):
            assert_same_value(x, y, name)
    elif isinstance(value, np.ndarray):
        assert np.array_equal(value, other) and value.dtype == other.dtype, name
    elif isinstance(value, pa.Array):
        assert value.type == other.type and value.equals(other), name
    else:
        assert value == other, name


def test_the_fast_path_takes_regular_blocks_of_several_contigs_and_long_positions():
    from annotator.engine import vcf
    block = b"1\t123456789012345678\trs\xc3\xa9\tA\tG\t.\t.\t.\n2\t007\t.\tAT\tA,ATT\t.\t.\t.\n"
    chrom, (codes, contigs), pos, ids, ref, alt, columns = vcf._regular_fields(block, 2, 8)
    assert chrom == ["1", "2"] and codes.tolist() == [0, 1] and contigs == ["1", "2"]
    assert pos.tolist() == [123456789012345678, 7]
    assert ids == ["rsé", "."] and ref == ["A", "AT"] and alt == ["G", "A,ATT"]
    assert [c.to_pylist() for c in columns] == [ids, ref, alt]
    for bad_pos in (b"0", b"+7", b" 7", b"0x7", b"7 "):    # Arrow's own integer parsing takes some of these
        assert vcf._regular_fields(block.replace(b"\t007", b"\t" + bad_pos), 2, 8) is None, bad_pos
    assert vcf._regular_fields(block.replace(b"\t.\n", b"\n", 1), 2, 8) is None      # a column short
    assert vcf._regular_fields(block.replace(b"\n", b"\n\n", 1), 2, 8) is None       # a blank line
    wide = b"".join(line + b"\tGT" + b"\t0/1" * 20 + b"\n" for line in block.splitlines())
    assert vcf._regular_fields(wide, 2, 29) is None      # many samples: the general path, bounded memory
    long_ref = block.replace(b"\tAT\t", b"\t" + b"A" * 1000 + b"\t")
    assert vcf._regular_fields(long_ref, 2, 8)[4] == ["A", "A" * 1000]   # long alleles: no index to outgrow


@pytest.mark.parametrize("kw", [{"chunk_size": 0}, {"chunk_bytes": 0}])
def test_chunk_limits_must_be_positive(tmp_path, kw):
    with pytest.raises(ValueError, match="must be positive"):
        open_vcf(write(tmp_path, records("1\t1\t.\tA\tG\t.\t.\t.")), **kw)


def texts(chunk: VcfChunk) -> list[str]:
    """A chunk's lines as strings (a regular block's come as an Arrow array)."""
    return prep.line_array(chunk).to_pylist()
