import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.engine import arrow, prep
from annotator.engine.variants import Kind, VcfChunk


def chunk(records: list[tuple[str, int, str, str, list[str]]], kinds: list[Kind]) -> VcfChunk:
    a_rec = [r for r, rec in enumerate(records) for _ in rec[4]]
    a_alt = [alt for rec in records for alt in rec[4]]
    n = len(a_rec)
    return VcfChunk(
        lines=["\t".join([c, str(p), i, ref, ",".join(alts), ".", "PASS", "."]) for c, p, i, ref, alts in records],
        line_no=np.arange(1, len(records) + 1), chrom=[r[0] for r in records],
        pos=np.array([r[1] for r in records]), ids=[r[2] for r in records], ref=[r[3] for r in records],
        a_rec=np.array(a_rec), a_num=np.ones(n, np.int32), a_alt=a_alt,
        a_pos=np.zeros(n, np.int64), a_end=np.zeros(n, np.int64), a_ref=[""] * n, a_alt_n=[""] * n,
        a_kind=np.array(kinds, dtype=np.int8))


@pytest.mark.parametrize("values", [[], ["a"], ["é", "xy", ""], ["\U0001F600b", "c"], [""] * 5])
def test_strings_equal_pa_array(values):
    out = arrow.strings(values)
    out.validate(full=True)
    assert out.equals(pa.array(values, pa.string()))


def test_prepared_chunk_gives_the_same_values_after_pickling():
    def make():
        return chunk([("2", 10, ".", "A", ["G"]), ("1", 20, "rs1", "A", ["AT"]), ("2", 30, ".", "AT", ["A", "ATT"])],
                     [Kind.SNV, Kind.INS, Kind.DEL, Kind.INS])
    lazy, ready = make(), make()
    prep.prepare(ready)
    ready = pickle.loads(pickle.dumps(ready, protocol=5))
    assert isinstance(ready.lines, pa.Array) and ready.n_records == lazy.n_records == 3
    assert prep.line_array(ready).equals(prep.line_array(lazy))
    assert prep.line_array(lazy).to_pylist() == lazy.lines
    codes, names = prep.chrom_codes(ready)
    assert codes.tolist() == [0, 1, 0] and names == ["2", "1"]
    assert prep.vep_alleles(ready).to_pylist() == ["G", "T", "-", "TT"]
    for a, b in zip(prep.record_columns(ready), prep.record_columns(lazy)):
        assert a.equals(b)
    assert prep.record_columns(lazy)[0].equals(pa.array(np.array([10, 20, 30]), pa.int64()))


@pytest.mark.parametrize("chroms", [["1", "1", "1"], ["2", "1", "2"], ["X"]])
def test_chrom_codes_and_the_columns_that_cross_the_pipe(chroms):
    c = chunk([(name, 10 + i, "rs%d" % i, "A", ["G", "T"]) for i, name in enumerate(chroms)], [Kind.SNV] * 2 * len(chroms))
    codes, names = prep.chrom_codes(c)
    assert names == list(dict.fromkeys(chroms)) and [names[k] for k in codes] == chroms
    prep.prepare(c)
    for field in ("chrom", "ids", "ref", "a_alt"):    # Arrow-backed now, the same strings
        assert isinstance(getattr(c, field), arrow.StringColumn), field
    assert c.chrom == chroms and list(c.ids) == [f"rs{i}" for i in range(len(chroms))]
    assert c.a_alt[1] == "T" and arrow.take_strings(c.a_alt, np.array([1, 0])) == ["T", "G"]
    assert pickle.loads(pickle.dumps(c)).ref == ["A"] * len(chroms)


@pytest.mark.parametrize("values", [["A", "", "ACGT", "é", "<DEL>"], [""], [], ["a\tb", "c"], ["x"] * 5])
def test_fields_build_the_same_array_as_pyarrow(values):
    assert arrow.fields(values).equals(pa.array(values, pa.string()))


def test_vep_first_base_comparison_ignores_case_only():
    assert prep._first_differs(["a", "C", "é", "T", "[", "n"], ["A", "c", "E", "G", "A", "N"]).tolist() == \
        [False, False, True, True, True, False]


_ALLELE = st.sampled_from(["A", "C", "G", "T", "AT", "ATT", "GA", "a", "at", "N", "<DEL>", "*", "ACGTACGT", "CA"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ALLELE, st.lists(_ALLELE, min_size=1, max_size=3)), min_size=1, max_size=12))
def test_vep_alleles_from_buffers_equal_the_strings(records):
    """prep.vep_alleles cuts the stripped first bases out of the ALT column's buffers; it must
    give what vep_allele_strings gives from the Python strings."""
    from annotator.engine.errors import VcfFormatError
    from annotator.engine.vcf import parse_block
    rows = [(r if not r.startswith("<") and r != "*" else "A", alts) for r, alts in records]
    block = "".join(f"1\t{100 + i}\t.\t{ref}\t{','.join(alts)}\t.\t.\t.\n" for i, (ref, alts) in enumerate(rows))
    try:
        c = parse_block(block.encode(), 1, 8)
    except VcfFormatError:
        return
    assert prep.vep_alleles(c).to_pylist() == prep.vep_allele_strings(c).tolist()


def test_a_cached_none_is_not_computed_again():
    c = chunk([("1", 10, ".", "A", ["G"])], [Kind.SNV])
    calls = []
    for _ in range(3):
        assert c.cached("nothing", lambda ch: calls.append(1)) is None
    assert len(calls) == 1
