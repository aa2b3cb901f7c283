"""HGVS c./n./p. strings on the demo model (tiny_models.demo_sequence)."""
import numpy as np
import pytest
from tiny_models import annotate_rows, demo_bundle, demo_sequence, write_fasta

from annotator.engine.fasta import Reference
from annotator.engine.hgvs import hgvs_p
from annotator.engine.so import BIT

SEQ = demo_sequence()["1"]
BUNDLE = demo_bundle()
COMP = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return Reference.open(write_fasta(tmp_path_factory.mktemp("fa"), demo_sequence()))


def snv(pos):
    b = SEQ[pos - 1]
    return ("1", pos, b, "A" if b != "A" else "C")


def hc(rec, tx, reference=None):
    return annotate_rows(BUNDLE, [rec], reference)[(0, tx)]["hgvs_c"]


@pytest.mark.parametrize("pos,coord", [
    (124, "4"), (110, "-11"), (340, "*10"), (152, "30+2"), (199, "31-2"),
    (175, "30+25"), (176, "31-25"),          # mid-intron: nearer exon, '+' on a tie
])
def test_plus_strand_snv_coordinates_without_fasta(pos, coord):
    _, _, r, a = snv(pos)
    assert hc(snv(pos), "TXP") == f"TXP:c.{coord}{r}>{a}"


def test_minus_strand_snv_complemented():
    _, _, r, a = snv(1199)
    assert hc(snv(1199), "TXM") == f"TXM:c.20+2{r.translate(COMP)}>{a.translate(COMP)}"
    assert hc(("1", 1217, "G", "A"), "TXM") == "TXM:c.4C>T"


def test_noncoding_n_dot():
    _, _, r, a = snv(2050)
    assert hc(snv(2050), "TXN") == f"TXN:n.50{r}>{a}"
    _, _, r, a = snv(2150)
    assert hc(snv(2150), "TXN") == f"TXN:n.100+50{r}>{a}"


def test_mnv_delins_and_upstream():
    assert hc(("1", 124, "CG", "TT"), "TXP") == "TXP:c.4_5delinsTT"
    assert annotate_rows(BUNDLE, [snv(50)])[(0, "TXP")]["hgvs_c"] == ""


def test_indels_need_fasta_and_shift_3prime(ref):
    assert hc(("1", 124, "CGGC", "C"), "TXP") == ""                    # no FASTA: not derivable
    assert hc(("1", 124, "CGGC", "C"), "TXP", ref) == "TXP:c.5_7del"   # CGG|C -> shifted to GGC
    assert hc(("1", 125, "GGC", "G"), "TXP", ref) == "TXP:c.6_7del"
    assert hc(("1", 125, "G", "GAAA"), "TXP", ref) == "TXP:c.5_6insAAA"
    assert hc(("1", 125, "G", "GG"), "TXP", ref) == "TXP:c.6dup"        # GG run: 3'-most copy


def test_protein_notation(ref):
    rows = annotate_rows(BUNDLE, [("1", 124, "C", "T"), ("1", 127, "C", "T"), ("1", 132, "G", "A"),
                                  ("1", 122, "T", "C"), ("1", 328, "T", "C"), ("1", 124, "CGGC", "C"),
                                  ("1", 125, "G", "GAAA"), ("1", 1217, "G", "A"), ("1", 125, "GGC", "G")], ref)
    got = [rows[(i, "TXM" if i == 7 else "TXP")]["hgvs_p"] for i in range(9)]
    assert got == ["TXP:p.Arg2Trp", "TXP:p.Gln3Ter", "TXP:p.Leu4=", "TXP:p.Met1?",
                   "TXP:p.Ter40GlnextTer?", "TXP:p.Arg2del", "TXP:p.Arg2_Gln3insLys",
                   "TXM:p.Arg2Trp", "TXP:p." + rows[(8, "TXP")]["hgvs_p"].split("p.")[1]]
    assert rows[(8, "TXP")]["hgvs_p"].endswith("fs")
    assert annotate_rows(BUNDLE, [("1", 124, "C", "T")])[(0, "TXP")]["hgvs_p"] == ""   # needs FASTA


def test_hgvs_p_dup_and_delins():
    assert hgvs_p("T", BIT["inframe_insertion"], "MKE", "MKKE", 1, False) == "T:p.Lys2dup"
    assert hgvs_p("T", BIT["inframe_deletion"], "MKEL", "ML", 1, False) == "T:p.Lys2_Glu3del"
    assert hgvs_p("T", BIT["missense_variant"], "KE", "RD", 5, False) == "T:p.Lys5_Glu6delinsArgAsp"


def test_vectorised_indel_shifting_matches_one_at_a_time(tmp_path):
    """_indel_ops (numpy, all indels at once) equals _indel_ops_one for every indel, including
    repeats longer than the shift window, dups, and indels at either contig end."""
    import random

    import numpy as np

    from annotator.engine.fasta import Prefetch
    from annotator.engine.hgvs import _indel_ops, _indel_ops_one

    rnd = random.Random(7)
    parts = ["CA" * 50, "".join(rnd.choice("ACGT") for _ in range(300)), "A" * 80, "ACG" * 30,
             "".join(rnd.choice("AC") for _ in range(200)), "T" * 5]
    seq = "".join(parts)
    reference = Reference.open(write_fasta(tmp_path, {"c": seq}))
    pos, refs, alts, dels = [], [], [], []
    for _ in range(600):
        is_del = rnd.random() < 0.5
        m = rnd.choice([1, 1, 2, 3, 4, 7])
        if is_del:
            p = rnd.randint(1, len(seq) - m + 1)
            pos.append(p), refs.append(seq[p - 1:p - 1 + m]), alts.append("")
        else:
            p = rnd.randint(1, len(seq) + 1)                 # base after the insertion point
            ins = seq[p - 1:p - 1 + m] if rnd.random() < 0.5 and p + m <= len(seq) else \
                "".join(rnd.choice("ACGT") for _ in range(m))
            pos.append(p), refs.append(""), alts.append(ins)
        dels.append(is_del)
    pos_a = np.array(pos, np.int64)
    ends = pos_a + np.array([len(r) for r in refs]) - 1
    pad = 64 + 20
    for lo, hi in ((pos_a - pad, ends + pad), (pos_a, ends)):   # held windows, and mostly not held
        pf = Prefetch(reference, "c", lo, hi, gap=0)
        t_vec, t_one = ["del", "dup"], ["del", "dup"]
        got = _indel_ops(pf, pos_a, refs, alts, np.array(dels), t_vec)
        want = [_indel_ops_one(pf, p, r, a, d, t_one) for p, r, a, d in zip(pos, refs, alts, dels)]
        for i, w in enumerate(want):
            g = got[i].tolist()
            assert g[0:2] + g[3:5] == list(w[0:2] + w[3:5]), (i, pos[i], refs[i], alts[i])
            assert t_vec[g[2]] == t_one[w[2]] and t_vec[g[5]] == t_one[w[5]], (i, pos[i], refs[i], alts[i])


def test_hgvs_p_snv_gives_the_per_pair_strings():
    """The vectorised SNV p. notation against the per-pair function, over every case."""
    from annotator.engine.hgvs import hgvs_p_snv
    cases = [("TA", BIT["missense_variant"], "K", "E", 4), ("TB", BIT["synonymous_variant"], "L", "L", 12),
             ("TC", BIT["stop_gained"], "Q", "*", 7), ("TD", BIT["stop_lost"], "*", "W", 301),
             ("TE", BIT["start_lost"], "M", "V", 1), ("TF", BIT["stop_retained_variant"], "*", "*", 88),
             ("TG", BIT["missense_variant"], "X", "K", 9), ("TH", BIT["missense_variant"], "*", "K", 5)]
    tx, masks, r, a, first = zip(*cases)
    got = hgvs_p_snv(np.array(tx, dtype=object), np.array(masks, np.uint64),
                     np.frombuffer("".join(r).encode(), np.uint8), np.frombuffer("".join(a).encode(), np.uint8),
                     np.array(first, np.int64))
    assert got.tolist() == [hgvs_p(t, m, x, y, f, False) for t, m, x, y, f in cases]
    assert got.tolist()[:5] == ["TA:p.Lys4Glu", "TB:p.Leu12=", "TC:p.Gln7Ter", "TD:p.Ter301TrpextTer?", "TE:p.Met1?"]


def test_hgvs_p_snv_of_no_pairs_is_empty():
    from annotator.engine.hgvs import hgvs_p_snv
    none = np.zeros(0, np.uint8)
    got = hgvs_p_snv(np.zeros(0, dtype=object), np.zeros(0, np.uint64), none, none, np.zeros(0, np.int64))
    assert got.dtype == object and len(got) == 0
