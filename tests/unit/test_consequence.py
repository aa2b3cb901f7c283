"""Region classification against the demo model (tests/unit/tiny_models.py), no FASTA.

TXP (+): exons 101-150, 201-260, 301-350; CDS 121-330; introns 151-200, 261-300.
TXM (-): exons 1001-1060, 1101-1160, 1201-1250; CDS 1030-1220; introns 1061-1100, 1161-1200.
TXN (+, non-coding): exons 2001-2100, 2201-2300.  TXI (+): CDS 2601-2700 (100 bp), no complete ends.
"""
import numpy as np
import pytest

from annotator.engine.coding import CdsReader
from annotator.engine.consequence import annotate_chunk
from annotator.engine.overlap import TranscriptIndex
from tiny_models import annotate_rows, demo_bundle, demo_sequence, make_chunk

SEQ = demo_sequence()["1"]
BUNDLE = demo_bundle()


def base(pos: int) -> str:
    return SEQ[pos - 1]


def alt(pos: int) -> str:
    return "A" if base(pos) != "A" else "C"


def snv(pos: int, tx: str) -> dict:
    return annotate_rows(BUNDLE, [("1", pos, base(pos), alt(pos))])[(0, tx)]


@pytest.mark.parametrize("pos,terms", [
    (147, "coding_sequence_variant"),
    (148, "splice_region_variant&coding_sequence_variant"),      # exon side, 3rd base
    (150, "splice_region_variant&coding_sequence_variant"),      # last exon base
    (151, "splice_donor_variant"),                               # +1
    (152, "splice_donor_variant"),                               # +2
    (153, "splice_region_variant&intron_variant"),               # +3
    (158, "splice_region_variant&intron_variant"),               # +8
    (159, "intron_variant"),                                     # +9
    (192, "intron_variant"),                                     # -9
    (193, "splice_region_variant&intron_variant"),               # -8
    (198, "splice_region_variant&intron_variant"),               # -3
    (199, "splice_acceptor_variant"),                            # -2
    (200, "splice_acceptor_variant"),                            # -1
    (201, "splice_region_variant&coding_sequence_variant"),
    (203, "splice_region_variant&coding_sequence_variant"),
    (204, "coding_sequence_variant"),
    (110, "5_prime_UTR_variant"),
    (340, "3_prime_UTR_variant"),
    (101, "5_prime_UTR_variant"),                                # no splice terms at the tx's outer end
    (350, "3_prime_UTR_variant"),
])
def test_plus_strand_regions(pos, terms):
    assert snv(pos, "TXP")["terms"] == terms


@pytest.mark.parametrize("pos,terms", [
    (1200, "splice_donor_variant"),        # strand -1: donor at the intron's genomic end
    (1199, "splice_donor_variant"),
    (1197, "splice_region_variant&intron_variant"),
    (1192, "intron_variant"),
    (1162, "splice_acceptor_variant"),
    (1161, "splice_acceptor_variant"),
    (1240, "5_prime_UTR_variant"),
    (1010, "3_prime_UTR_variant"),
    (1201, "splice_region_variant&coding_sequence_variant"),
])
def test_minus_strand_regions(pos, terms):
    assert snv(pos, "TXM")["terms"] == terms


def test_up_and_downstream_distance_and_strand():
    rows = annotate_rows(BUNDLE, [("1", 50, base(50), alt(50)), ("1", 400, base(400), alt(400)),
                                  ("1", 1260, base(1260), alt(1260)), ("1", 990, base(990), alt(990))])
    assert (rows[(0, "TXP")]["terms"], rows[(0, "TXP")]["distance"]) == ("upstream_gene_variant", 51)
    assert (rows[(1, "TXP")]["terms"], rows[(1, "TXP")]["distance"]) == ("downstream_gene_variant", 50)
    assert (rows[(2, "TXM")]["terms"], rows[(2, "TXM")]["distance"]) == ("upstream_gene_variant", 10)
    assert (rows[(3, "TXM")]["terms"], rows[(3, "TXM")]["distance"]) == ("downstream_gene_variant", 11)
    assert rows[(2, "TXP")]["terms"] == "downstream_gene_variant"  # 1260 - 350 = 910 bp
    assert rows[(2, "TXP")]["distance"] == 910


def test_insertion_next_to_transcript_is_upstream_by_one():
    rows = annotate_rows(BUNDLE, [("1", 100, base(100), base(100) + "A")])
    assert rows[(0, "TXP")]["terms"] == "upstream_gene_variant"
    assert rows[(0, "TXP")]["distance"] == 1


def test_intergenic_unknown_contig_star_and_none():
    chunk = make_chunk([("2", 10000, "A", "G"), ("3", 5, "A", "G"), ("1", 130, "C", "*,."), ("2", 2, "A", "G")])
    p = annotate_chunk(BUNDLE, TranscriptIndex(BUNDLE), chunk, None)
    from annotator.engine import so
    assert p.allele.tolist() == [0, 4]      # allele 1: unknown contig; 2, 3: '*' and '.'
    assert p.tx.tolist() == [-1, -1]
    assert [so.label(m) for m in p.mask] == ["intergenic_variant"] * 2


def test_noncoding_exon_and_intron():
    r = snv(2050, "TXN")
    assert (r["terms"], r["exon"], r["cdna_pos"]) == ("non_coding_transcript_exon_variant", "1/2", "50")
    r = snv(2150, "TXN")
    assert (r["terms"], r["intron"]) == ("intron_variant&non_coding_transcript_variant", "1/1")


def test_exon_intron_numbers_follow_strand():
    assert snv(1230, "TXM")["exon"] == "1/3"
    assert snv(1130, "TXM")["exon"] == "2/3"
    assert snv(1030, "TXM")["exon"] == "3/3"
    assert snv(1180, "TXM")["intron"] == "1/2"
    assert snv(1080, "TXM")["intron"] == "2/2"
    assert snv(280, "TXP")["intron"] == "2/2"


def test_positions_without_fasta():
    r = snv(124, "TXP")
    assert (r["cdna_pos"], r["cds_pos"], r["protein_pos"]) == ("24", "4", "2")
    assert r["terms"] == "coding_sequence_variant"
    r = snv(1217, "TXM")      # cds 4 on the minus strand
    assert (r["cdna_pos"], r["cds_pos"], r["protein_pos"]) == ("34", "4", "2")
    r = snv(110, "TXP")
    assert (r["cdna_pos"], r["cds_pos"], r["protein_pos"]) == ("10", "", "")


def test_start_codon_without_fasta():
    assert snv(122, "TXP")["terms"] == "start_lost"
    assert snv(1219, "TXM")["terms"] == "start_lost"
    assert snv(2601, "TXI")["terms"] == "coding_sequence_variant"    # start not annotated complete


def test_indels_frame_without_fasta():
    rows = annotate_rows(BUNDLE, [
        ("1", 125, "GGC", "G"),            # -2
        ("1", 124, "CGGC", "C"),           # -3
        ("1", 125, "G", "GAAA"),           # +3
        ("1", 125, "G", "GA"),             # +1
    ])
    assert rows[(0, "TXP")]["terms"] == "frameshift_variant"
    assert rows[(1, "TXP")]["terms"] == "inframe_deletion"
    assert rows[(1, "TXP")]["cds_pos"] == "4-6"     # normalised: CGG at 124..126
    assert rows[(2, "TXP")]["terms"] == "inframe_insertion"
    assert rows[(2, "TXP")]["cds_pos"] == "5-6"
    assert rows[(3, "TXP")]["terms"] == "frameshift_variant"


def test_deletion_across_exon_intron_boundary():
    rows = annotate_rows(BUNDLE, [("1", 148, SEQ[147:153], SEQ[147])])   # deletes 149..153
    r = rows[(0, "TXP")]
    assert r["terms"] == "splice_donor_variant&coding_sequence_variant&intron_variant"
    assert (r["exon"], r["intron"], r["cdna_pos"], r["cds_pos"]) == ("1/3", "1/2", "49-?", "29-?")


def test_insertion_at_exon_intron_boundary_is_splice_region():
    rows = annotate_rows(BUNDLE, [("1", 150, base(150), base(150) + "T")])
    assert rows[(0, "TXP")]["terms"] == "splice_region_variant"


def test_deletion_straddling_cds_start_is_start_lost():
    rows = annotate_rows(BUNDLE, [("1", 118, SEQ[117:123], SEQ[117])])    # deletes 119..123
    assert rows[(0, "TXP")]["terms"] == "start_lost&5_prime_UTR_variant"


def test_transcript_ablation_and_symbolic():
    rows = annotate_rows(BUNDLE, [("1", 90, "N", "<DEL>", 400), ("1", 90, "N", "<DEL>", 130)])
    assert rows[(0, "TXP")]["terms"] == "transcript_ablation"
    assert rows[(1, "TXP")]["terms"] == "start_lost&feature_truncation&coding_sequence_variant&5_prime_UTR_variant" \
        or rows[(1, "TXP")]["terms"] == "feature_truncation&coding_sequence_variant&5_prime_UTR_variant"


def test_incomplete_terminal_codon():
    assert snv(2700, "TXI")["terms"] == "incomplete_terminal_codon_variant&coding_sequence_variant"


def test_multiallelic_alleles_are_independent():
    rows = annotate_rows(BUNDLE, [("1", 150, SEQ[149:152], f"{SEQ[149]},{SEQ[149]}{SEQ[150]}")])
    assert rows[(0, "TXP")]["terms"] == "splice_donor_variant"          # deletes 151..152
    assert rows[(1, "TXP")]["terms"] == "splice_donor_variant"          # deletes 152
    rows = annotate_rows(BUNDLE, [("1", 127, "C", "T,G")])
    assert rows[(0, "TXP")]["cds_pos"] == rows[(1, "TXP")]["cds_pos"] == "7"
    assert rows[(0, "TXP")]["hgvs_c"] == "TXP:c.7C>T"
    assert rows[(1, "TXP")]["hgvs_c"] == "TXP:c.7C>G"


def test_rows_grouped_by_allele():
    chunk = make_chunk([("1", 124, "C", "T"), ("2", 5, "A", "G"), ("1", 1130, base(1130), alt(1130))])
    p = annotate_chunk(BUNDLE, TranscriptIndex(BUNDLE), chunk, None)
    assert np.all(np.diff(p.allele) >= 0)
    assert set(p.allele.tolist()) == {0, 1, 2}


def test_index_cdna_to_genomic_and_labels():
    from tiny_models import demo_bundle as _demo
    b = _demo()
    ix = TranscriptIndex(b)
    t = {str(x): i for i, x in enumerate(b.tx_id)}
    # TXM (strand -1): exons 1201-1250 (cDNA 1-50), 1101-1160 (51-110), 1001-1060 (111-170)
    g, ok = ix.genomic_of(np.array([t["TXM"]] * 4), np.array([1, 50, 51, 171]))
    assert g.tolist() == [1250, 1201, 1160, 0] and ok.tolist() == [True, True, True, False]
    c, _ = ix.cdna_of(np.array([t["TXM"]] * 3), g[:3])
    assert c.tolist() == [1, 50, 51]
    assert CdsReader(ix, {}).exons(t["TXM"]) == ([1, 51, 111], [(1, 50, 1201, 1250), (51, 110, 1101, 1160),
                                                                (111, 170, 1001, 1060)])
    e = np.arange(b.tx_exon_off[t["TXM"]], b.tx_exon_off[t["TXM"] + 1])
    assert ix.exon_labels(e).tolist() == ["3/3", "2/3", "1/3"]          # genomic order
    i = np.arange(ix.in_off[t["TXP"]], ix.in_off[t["TXP"] + 1])
    assert ix.intron_labels(i).tolist() == ["1/2", "2/2"]


def test_exon_intron_labels_come_from_a_table_that_grows_past_its_first_size(monkeypatch):
    import annotator.engine.consequence as consequence
    from annotator.engine.consequence import _label_column, _Labels
    monkeypatch.setattr(consequence, "_LABELS", _Labels())    # a fresh table: starts at totals up to 64
    num, total = np.array([1, 3, 2, 150, 64]), np.array([1, 3, 200, 150, 64])
    col = _label_column(7, np.array([0, 1, 3, 4, 6]), num, total, np.array([5]), ["2-3/9"])
    assert col.to_pylist() == ["1/1", "3/3", "", "2/200", "150/150", "2-3/9", "64/64"]
    assert consequence._LABELS.current[0] == 200
    small = _label_column(2, np.array([1]), np.array([7]), np.array([12]), np.array([], np.int64), [])
    assert small.to_pylist() == ["", "7/12"]


def test_labels_beyond_the_table_limit_are_made_per_chunk(monkeypatch):
    import annotator.engine.consequence as consequence
    from annotator.engine.consequence import _label_column, _Labels
    monkeypatch.setattr(consequence, "_LABELS", _Labels())
    col = _label_column(3, np.array([0, 2]), np.array([5, 2000]), np.array([7, 5000]), np.array([], np.int64), [])
    assert col.to_pylist() == ["5/7", "", "2000/5000"]
    assert consequence._LABELS.current[0] == 0      # no table of 12.5M labels was built
