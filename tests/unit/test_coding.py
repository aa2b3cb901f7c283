"""Codon-level effects with the demo FASTA (sequence documented in tiny_models.demo_sequence)."""
import pytest

from annotator.engine.coding import MITO, STANDARD, translate
from annotator.engine.fasta import Reference
from tiny_models import annotate_rows, demo_bundle, demo_sequence, write_fasta

SEQ = demo_sequence()["1"]
BUNDLE = demo_bundle()


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return Reference.open(write_fasta(tmp_path_factory.mktemp("fa"), demo_sequence()))


def one(ref, rec, tx="TXP"):
    return annotate_rows(BUNDLE, [rec], ref)[(0, tx)]


@pytest.mark.parametrize("rec,terms,aa,codons", [
    (("1", 124, "C", "T"), "missense_variant", "R/W", "Cgg/Tgg"),
    (("1", 127, "C", "T"), "stop_gained", "Q/*", "Cag/Tag"),
    (("1", 132, "G", "A"), "synonymous_variant", "L", "ctG/ctA"),
    (("1", 122, "T", "C"), "start_lost", "M/T", "aTg/aCg"),
    (("1", 329, "A", "G"), "stop_retained_variant", "*", "tAa/tGa"),
    (("1", 328, "T", "C"), "stop_lost", "*/Q", "Taa/Caa"),
])
def test_plus_strand_snvs(ref, rec, terms, aa, codons):
    r = one(ref, rec)
    assert (r["terms"], r["amino_acids"], r["codons"]) == (terms, aa, codons)


@pytest.mark.parametrize("rec,terms,aa,codons,pos", [
    (("1", 1217, "G", "A"), "missense_variant", "R/W", "Cgg/Tgg", "4"),    # tx C>T
    (("1", 1215, "C", "T"), "synonymous_variant", "R", "cgG/cgA", "6"),    # tx G>A
    (("1", 1220, "T", "C"), "start_lost", "M/V", "Atg/Gtg", "1"),          # tx A>G
])
def test_minus_strand_snvs(ref, rec, terms, aa, codons, pos):
    r = one(ref, rec, "TXM")
    assert (r["terms"], r["amino_acids"], r["codons"], r["cds_pos"]) == (terms, aa, codons, pos)


def test_inframe_and_frameshift_indels(ref):
    r = one(ref, ("1", 125, "G", "GAAA"))
    assert (r["terms"], r["amino_acids"], r["codons"]) == ("inframe_insertion", "R/RK", "cgg/cgAAAg")
    r = one(ref, ("1", 124, "CGGC", "C"))                  # removes codon 2 (CGG)
    assert (r["terms"], r["amino_acids"], r["codons"]) == ("inframe_deletion", "R/-", "CGG/-")
    r = one(ref, ("1", 125, "GGC", "G"))                   # removes GC at cds 6-7
    assert (r["terms"], r["amino_acids"]) == ("frameshift_variant", "RQ/RX")   # VEP: whole codons + X
    r = one(ref, ("1", 126, "G", "GTAA"))                  # in-frame TAA between codons 2 and 3
    assert r["terms"] == "stop_gained&inframe_insertion"
    assert (r["amino_acids"], r["codons"]) == ("-/*", "-/TAA")


def test_splice_and_utr_pairs_get_no_codons(ref):
    r = one(ref, ("1", 152, SEQ[151], "A" if SEQ[151] != "A" else "C"))
    assert (r["terms"], r["codons"], r["amino_acids"]) == ("splice_donor_variant", "", "")


def test_incomplete_terminal_codon_skips_codon_effect(ref):
    r = one(ref, ("1", 2700, SEQ[2699], "A" if SEQ[2699] != "A" else "C"), "TXI")
    assert r["terms"] == "incomplete_terminal_codon_variant&coding_sequence_variant"
    assert r["codons"] == ""


def test_translate_tables():
    assert translate("ATGTAATGG") == "M*W"
    assert translate("AGATGAATA", MITO) == "*WM"
    assert len(STANDARD) == 64


def test_frameshift_with_immediate_stop_is_stop_gained(ref):
    # VEP: the whole alternate codons ("TAA" + partial "C") contain a stop the reference lacks
    r = one(ref, ("1", 126, "G", "GTAAC"))                 # between codons 2 and 3
    assert (r["terms"], r["amino_acids"], r["codons"]) == ("stop_gained&frameshift_variant", "-/*X", "-/TAAC")
    assert r["hgvs_p"] == "TXP:p.Gln3Ter"


def test_start_incomplete_cds_is_read_in_the_frame_of_its_stop(ref, tmp_path):
    from annotator.engine.bundle import write_gff3
    from annotator.engine.model import CDS_END_COMPLETE
    from tiny_models import Tx, make_bundle
    # TXP without the A of its ATG: 119 CDS bases, so the first 2 are the tail of a codon
    b = make_bundle([Tx("TXS", "1", 1, [(101, 150), (201, 260), (301, 350)], cds=(122, 330),
                        flags=CDS_END_COMPLETE)], contigs=["1", "2"])
    r = annotate_rows(b, [("1", 124, "C", "T")], ref)[(0, "TXS")]
    assert (r["terms"], r["amino_acids"], r["codons"]) == ("missense_variant", "R/W", "Cgg/Tgg")
    assert (r["cds_pos"], r["protein_pos"], r["hgvs_c"]) == ("3", "2", "TXS:c.3C>T")
    r = annotate_rows(b, [("1", 328, "T", "C")], ref)[(0, "TXS")]
    assert (r["terms"], r["amino_acids"]) == ("stop_lost", "*/Q")
    r = annotate_rows(b, [("1", 122, "T", "C")], ref)[(0, "TXS")]   # the partial first codon
    assert (r["terms"], r["codons"]) == ("coding_sequence_variant", "")
    write_gff3(b, tmp_path / "s.gff3")
    phases = [x.split("\t")[7] for x in (tmp_path / "s.gff3").read_text().splitlines() if "\tCDS\t" in x]
    assert phases == ["2", "0", "0"]       # exon 1: skip 2, then 27 bases = 9 codons
