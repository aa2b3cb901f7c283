import numpy as np
import pyarrow as pa

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


def test_record_csq_groups_pairs_per_record_and_nulls_records_without_rows():
    c = chunk([("1", 10, ".", "A", ["G"]), ("7", 20, ".", "C", ["T"]), ("1", 30, ".", "G", ["A"])],
              [Kind.SNV] * 3)
    cols = {f: pa.array([f"{f[0]}0", f"{f[0]}1", f"{f[0]}2"]) for f in csq.FIELDS}
    out = csq.record_csq(c.n_records, np.array([0, 0, 2]), cols)
    first = "|".join(f"{f[0]}0" for f in csq.FIELDS) + "," + "|".join(f"{f[0]}1" for f in csq.FIELDS)
    assert out.to_pylist() == [first, None, "|".join(f"{f[0]}2" for f in csq.FIELDS)]


def test_annotate_lines_appends_or_replaces_dot_and_skips_records_without_csq():
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tDP=3", "1\t11\t.\tA\tG\t.\tPASS\t.", "1\t12\t.\tA\tG\t.\tPASS\tDP=1"]
    out = csq.annotate_lines(lines, pa.array(["X|y", "Z|w", None]), drop_existing=False).to_pylist()
    assert out == ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=X|y", "1\t11\t.\tA\tG\t.\tPASS\tCSQ=Z|w",
                   "1\t12\t.\tA\tG\t.\tPASS\tDP=1"]


def test_annotate_lines_keeps_format_and_sample_columns():
    lines = ["1\t10\t.\tA\tG\t.\tPASS\tDP=3\tGT:DP\t0/1:5\t1/1:7", "1\t11\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./."]
    out = csq.annotate_lines(lines, pa.array(["X|y", None]), drop_existing=False).to_pylist()
    assert out == ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=X|y\tGT:DP\t0/1:5\t1/1:7", "1\t11\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./."]


def test_text_is_newline_terminated_utf8_of_every_line():
    arr = pa.array(["a\tb", "", "µ"]).slice(1)
    assert bytes(csq.text(arr)) == "\nµ\n".encode()


def test_annotate_lines_drops_an_existing_csq_when_asked():
    out = csq.annotate_lines(["1\t10\t.\tA\tG\t.\tPASS\tCSQ=old;DP=3", "1\t11\t.\tA\tG\t.\tPASS\tCSQ=old"],
                             pa.array(["new", "new2"]), drop_existing=True).to_pylist()
    assert out == ["1\t10\t.\tA\tG\t.\tPASS\tDP=3;CSQ=new", "1\t11\t.\tA\tG\t.\tPASS\tCSQ=new2"]


def test_header_line_declares_vep_layout():
    h = csq.header_line("GRCh37")
    assert h.startswith("##INFO=<ID=CSQ,Number=.,Type=String,")
    assert h.split("Format: ")[1].rstrip('">').split("|") == list(csq.FIELDS)

