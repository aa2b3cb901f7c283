import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.engine import csq
from annotator.engine.variants import Kind, VcfChunk


def chunk(records: list[tuple[str, int, str, str, list[str]]], kinds: list[Kind]) -> VcfChunk:
    a_rec, a_num, a_alt = [], [], []
    for r, (_, _, _, _, alts) in enumerate(records):
        for i, alt in enumerate(alts, 1):
            a_rec.append(r)
            a_num.append(i)
            a_alt.append(alt)
    n = len(a_rec)
    return VcfChunk(
        lines=["\t".join([c, str(p), i, ref, ",".join(alts), ".", "PASS", "DP=3"]) for c, p, i, ref, alts in records],
        line_no=np.arange(1, len(records) + 1), chrom=[r[0] for r in records],
        pos=np.array([r[1] for r in records]), ids=[r[2] for r in records], ref=[r[3] for r in records],
        a_rec=np.array(a_rec), a_num=np.array(a_num, dtype=np.int32), a_alt=a_alt,
        a_pos=np.zeros(n, np.int64), a_end=np.zeros(n, np.int64), a_ref=[""] * n, a_alt_n=[""] * n,
        a_kind=np.array(kinds, dtype=np.int8))


def test_vep_alleles_strip_shared_first_base_of_indels_only():
    c = chunk([("1", 10, ".", "A", ["G"]), ("1", 20, ".", "A", ["AT"]), ("1", 30, ".", "AT", ["A", "ATT"]),
               ("1", 40, ".", "A", ["G", "AT"])],
              [Kind.SNV, Kind.INS, Kind.DEL, Kind.INS, Kind.SNV, Kind.INS])
    assert csq.vep_alleles(c).tolist() == ["G", "T", "-", "TT", "G", "AT"]


def test_vep_alleles_ignore_non_plain_alts_when_deciding():
    c = chunk([("1", 10, ".", "AT", ["A", "*"]), ("1", 20, ".", "A", ["<DEL>", "AT"]), ("1", 30, ".", "A", ["C"]),
               ("1", 40, ".", "CA", ["C", "TA"])],
              [Kind.DEL, Kind.STAR, Kind.SYMBOLIC, Kind.INS, Kind.SNV, Kind.DEL, Kind.MNV])
    assert csq.vep_alleles(c).tolist() == ["-", "*", "<DEL>", "T", "C", "C", "TA"]


def test_escape_percent_encodes_grammar_characters():
    out = csq.escape(pa.array(["p.Arg41=", "a,b;c|d e", "plain"]))
    assert out.to_pylist() == ["p.Arg41%3D", "a%2Cb%3Bc%7Cd%20e", "plain"]


def text(lines: list[str], values: list[str], pair_record: list[int], drop_existing: bool = False,
         sites_only: bool = False) -> list[str]:
    out = csq.render(pa.array(lines, pa.string()), pa.array(values, pa.string()), np.array(pair_record, np.int64),
                     drop_existing, sites_only)
    raw = bytes(out).decode()
    assert raw.endswith("\n") or not lines
    return raw.split("\n")[:-1]


def test_pair_values_join_runs_in_field_order():
    cols = {f: pa.array([f"{f[0]}0", f"{f[0]}1"]) for f in csq.FIELDS}
    assert csq.pair_values(cols).to_pylist() == ["|".join(f"{f[0]}{i}" for f in csq.FIELDS) for i in (0, 1)]


@pytest.mark.parametrize("sites_only", [False, True])
def test_render_groups_pairs_per_record_and_leaves_records_without_pairs_alone(sites_only):
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tDP=3", "7\t20\t.\tC\tT\t.\tPASS\t.", "1\t30\t.\tG\tA\t.\tPASS\t.",
             "1\t40\t.\tG\tA\t.\tPASS\tDP=1"]
    out = text(lines, ["X|y", "Z|w", "V|u"], [0, 0, 2], sites_only=sites_only)
    assert out == ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=X|y,Z|w", lines[1], "1\t30\t.\tG\tA\t.\tPASS\tCSQ=V|u", lines[3]]


def test_render_every_record_with_pairs():
    lines = ["1\t10\t.\tA\tG\t.\tPASS\t.", "1\t11\t.\tA\tG\t.\tPASS\tDP=1"]
    assert text(lines, ["a", "b", "c"], [0, 1, 1], sites_only=True) == \
        ["1\t10\t.\tA\tG\t.\tPASS\tCSQ=a", "1\t11\t.\tA\tG\t.\tPASS\tDP=1;CSQ=b,c"]


@pytest.mark.parametrize("drop_existing, sites_only", [(False, True), (False, False), (True, False)])
def test_render_gives_records_with_pairs_the_same_text_on_both_paths(drop_existing, sites_only):
    """A chunk where every record has pairs is rendered by the list join; with one record
    without pairs, by the row join: the other records' lines must not differ."""
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tCSQ=x;DP=3" + ("" if sites_only else "\tGT\t0/1"),
             "1\t11\trs1\tAT\tA,ATT\t.\tPASS\t." + ("" if sites_only else "\tGT\t1/2")]
    values, pair_record = ["a|1", "b|2", "c|3", "d|4"], [0, 0, 1, 1]
    alone = text(lines, values, pair_record, drop_existing, sites_only)
    mixed = text([lines[0], "9\t5\t.\tC\tT\t.\t.\t." + ("" if sites_only else "\tGT\t0/0"), lines[1]],
                 values, [0, 0, 2, 2], drop_existing, sites_only)
    assert alone == [mixed[0], mixed[2]] and alone[1].startswith("1\t11\trs1\tAT\tA,ATT\t.\tPASS\tCSQ=c|3,d|4")


def test_render_keeps_format_and_sample_columns():
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tDP=3\tGT:DP\t0/1:5\t1/1:7", "1\t11\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./."]
    assert text(lines, ["X|y"], [0]) == ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=X|y\tGT:DP\t0/1:5\t1/1:7", lines[1]]


def test_render_is_utf8_and_empty_for_no_lines():
    assert text(["1\t10\tµ\tA\tG\t.\tPASS\t."], ["é"], [0], sites_only=True) == ["1\t10\tµ\tA\tG\t.\tPASS\tCSQ=é"]
    assert bytes(csq.render(pa.array([], pa.string()), pa.array([], pa.string()), np.zeros(0, np.int64), False)) == b""


def test_render_drops_an_existing_csq_when_asked():
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tCSQ=old;DP=3", "1\t11\t.\tA\tG\t.\tPASS\tCSQ=old",
             "1\t12\t.\tA\tG\t.\tPASS\tDP=2;CSQ=old"]
    assert text(lines, ["new", "new2"], [0, 1], drop_existing=True) == \
        ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=new", "1\t11\t.\tA\tG\t.\tPASS\tCSQ=new2", "1\t12\t.\tA\tG\t.\tPASS\tDP=2"]


def test_header_line_declares_vep_layout():
    h = csq.header_line("GRCh37")
    assert h.startswith("##INFO=<ID=CSQ,Number=.,Type=String,")
    assert h.split("Format: ")[1].rstrip('">').split("|") == list(csq.FIELDS)



def test_needs_escape_looks_at_every_value_and_only_at_values():
    assert not csq.needs_escape(pa.array(["a", "b", ""], pa.string()))
    assert csq.needs_escape(pa.array(["a", "b c"], pa.string())) and csq.needs_escape(pa.array(["é;"], pa.string()))
    assert csq.needs_escape(pa.chunked_array([["a"], ["b="]]))
    assert not csq.needs_escape(pa.array(["x;y", "ok"], pa.string()).slice(1))   # bytes outside the slice
    assert not csq.needs_escape(pa.array([], pa.string()))


@given(st.lists(st.tuples(st.sampled_from(["", "", "", "", "", "12", "A/T", "p.Arg1Ter"]),
                          st.sampled_from(["", "", "7-9", "?-4"]), st.sampled_from(["", "x"])), max_size=30),
       st.integers(0, 2))
def test_fields_joined_only_where_set_equal_the_full_join(rows, skip):
    """Rows with every field '' get the bare separators; the others the join (sliced inputs too)."""
    from annotator.engine.csq import _joined_where_set
    cols = [pa.array([""] * skip + [r[i] for r in rows], pa.string()).slice(skip) for i in range(3)]
    got = _joined_where_set(cols)
    assert got.to_pylist() == ["|".join(r) for r in rows]


def test_fields_joined_where_set_in_both_regimes():
    from annotator.engine.csq import _joined_where_set
    sparse = [pa.array(["", "a", "", ""]), pa.array(["", "", "", "b"])]        # 2 of 4 rows set
    dense = [pa.array(["x", "a", "", "y"]), pa.array(["", "", "", "b"])]       # 3 of 4 rows set
    assert _joined_where_set(sparse).to_pylist() == ["|", "a|", "|", "|b"]
    assert _joined_where_set(dense).to_pylist() == ["x|", "a|", "|", "y|b"]
