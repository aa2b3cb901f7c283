"""Allele normalisation: the per-allele rules, and the vectorised chunk path agreeing with them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.engine.normalise import (
    AlleleError, Allele, info_end, is_bases, normalise, normalise_alleles,
)
from annotator.engine.variants import Kind

CASES = [
    # pos, ref, alt, end -> a_pos, a_end, a_ref, a_alt_n, kind
    (100, "A", "G", None, (100, 100, "A", "G", Kind.SNV)),
    (100, "a", "g", None, (100, 100, "A", "G", Kind.SNV)),
    (100, "AC", "GT", None, (100, 101, "AC", "GT", Kind.MNV)),
    (100, "ACG", "ATT", None, (101, 102, "CG", "TT", Kind.MNV)),
    (100, "ACG", "TCG", None, (100, 100, "A", "T", Kind.SNV)),
    (100, "A", "AT", None, (101, 100, "", "T", Kind.INS)),
    (100, "A", "AA", None, (100, 99, "", "A", Kind.INS)),      # suffix first: inserted before POS
    (100, "A", "ACA", None, (100, 99, "", "AC", Kind.INS)),
    (100, "AT", "A", None, (101, 101, "T", "", Kind.DEL)),
    (100, "ATT", "A", None, (101, 102, "TT", "", Kind.DEL)),
    (100, "AA", "A", None, (100, 100, "A", "", Kind.DEL)),
    (100, "ATG", "C", None, (100, 102, "ATG", "C", Kind.DELINS)),
    (100, "CATG", "CG", None, (101, 102, "AT", "", Kind.DEL)),
    (100, "CATG", "CTTTG", None, (101, 101, "A", "TT", Kind.DELINS)),
    (100, "A", "A", None, (100, 100, "A", "A", Kind.NONE)),
    (100, "A", "a", None, (100, 100, "A", "A", Kind.NONE)),
    (100, "A", ".", None, (100, 100, "A", ".", Kind.NONE)),
    (100, "A", "<NON_REF>", None, (100, 100, "A", "<NON_REF>", Kind.NONE)),
    (100, "A", "<*>", None, (100, 100, "A", "<*>", Kind.NONE)),
    (100, "AC", "*", None, (100, 101, "AC", "*", Kind.STAR)),
    (100, "N", "<DEL>", 200, (101, 200, "N", "<DEL>", Kind.SYMBOLIC)),
    (100, "N", "<del:me>", None, (101, 100, "N", "<del:me>", Kind.SYMBOLIC)),
    (100, "G", "G]17:198982]", None, (100, 100, "G", "G]17:198982]", Kind.SYMBOLIC)),
    (100, "T", "]13:123456]T", None, (100, 100, "T", "]13:123456]T", Kind.SYMBOLIC)),
    (100, "C", "C[<ctg1>:7[", None, (100, 100, "C", "C[<ctg1>:7[", Kind.SYMBOLIC)),
    (100, "G", ".G", None, (100, 100, "G", ".G", Kind.SYMBOLIC)),
    (100, "G", "G.", None, (100, 100, "G", "G.", Kind.SYMBOLIC)),
]


@pytest.mark.parametrize("pos,ref,alt,end,want", CASES, ids=[f"{c[1]}>{c[2]}" for c in CASES])
def test_normalise_rules(pos, ref, alt, end, want):
    assert tuple(normalise(pos, ref, alt, end)) == want


@pytest.mark.parametrize("alt,fragment", [
    ("", "empty ALT"), ("Z", "is not bases"), ("<DEL", "is not bases"), ("A]17:1[", "is not bases"),
    ("AC-", "is not bases"), ("G]17:x]", "is not bases"),
])
def test_normalise_refuses(alt, fragment):
    with pytest.raises(ValueError, match=fragment):
        normalise(100, "A", alt)


def test_symbolic_end_before_pos():
    with pytest.raises(ValueError, match="before POS"):
        normalise(100, "N", "<DEL>", 50)


def test_info_end():
    assert info_end("SVTYPE=DEL;END=500;X") == 500
    assert info_end("XEND=5;BLEND=7") is None
    assert info_end(".") is None
    with pytest.raises(ValueError, match="INFO END"):
        info_end("END=abc")


def test_is_bases():
    assert is_bases("ACGTNacgtn")
    assert not is_bases("") and not is_bases("ACGR") and not is_bases("AÇ")


def _chunk(refs, alts, infos=None):
    pos = np.arange(100, 100 + len(refs), dtype=np.int64)
    infos = infos or ["."] * len(refs)
    return normalise_alleles(pos, refs, alts, infos.__getitem__)


def test_flattening_of_multiallelic_records():
    al = _chunk(["A", "AT", "C"], ["G,T,AT", "A", "<DEL>,*"], [".", ".", "END=150"])
    assert al.rec.tolist() == [0, 0, 0, 1, 2, 2]
    assert al.num.tolist() == [1, 2, 3, 1, 1, 2]
    assert al.alt == ["G", "T", "AT", "A", "<DEL>", "*"]
    assert al.kind.tolist() == [Kind.SNV, Kind.SNV, Kind.INS, Kind.DEL, Kind.SYMBOLIC, Kind.STAR]
    assert al.pos.tolist() == [100, 100, 101, 102, 103, 102]
    assert al.end.tolist() == [100, 100, 100, 102, 150, 102]
    assert al.rec.dtype == np.int64 and al.pos.dtype == np.int64 and al.num.dtype == np.int32 and al.kind.dtype == np.int8


def test_chunk_errors_name_the_record():
    with pytest.raises(AlleleError) as e:
        _chunk(["A", "A", "Q"], ["G", "T", "C"])
    assert e.value.index == 2 and "REF" in e.value.reason
    with pytest.raises(AlleleError) as e:
        _chunk(["A", "A", "A"], ["G", "T,,C", "C"])
    assert e.value.index == 1 and "empty ALT" in e.value.reason
    with pytest.raises(AlleleError) as e:
        _chunk(["A", "A"], ["G", "<DEL>"], [".", "END=x"])
    assert e.value.index == 1 and "INFO END" in e.value.reason


def test_caller_lists_are_not_modified():
    refs, alts = ["A", "at", "a"], ["G", "a", "AT"]
    al = _chunk(refs, alts)
    assert refs == ["A", "at", "a"] and alts == ["G", "a", "AT"]
    assert al.alt == ["G", "a", "AT"] and al.ref_n == ["A", "T", ""] and al.alt_n == ["G", "", "T"]


_bases = st.text(alphabet="ACGTNacgt", min_size=1, max_size=6)
_alt = st.one_of(_bases, st.sampled_from(["*", ".", "<DEL>", "<*>", "G]2:5]"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_bases, st.lists(_alt, min_size=1, max_size=3)), min_size=1, max_size=40))
def test_vectorised_path_matches_the_rules(records):
    """The numpy fast paths (SNVs, padded indels) give what `normalise` gives allele by allele."""
    refs = [r for r, _ in records]
    alts = [",".join(a) for _, a in records]
    al = _chunk(refs, alts, ["END=1000"] * len(refs))
    i = 0
    for r, (ref, alt_list) in enumerate(records):
        for alt in alt_list:
            end = 1000 if alt.startswith("<") and alt != "<*>" else None
            want = normalise(100 + r, ref, alt, end)
            got = Allele(int(al.pos[i]), int(al.end[i]), al.ref_n[i], al.alt_n[i], Kind(al.kind[i]))
            assert got == want, (ref, alt)
            i += 1
    assert i == len(al.alt)


def test_commas_per_alt_counted_over_the_joined_string():
    from annotator.engine.normalise import _commas
    assert _commas(["A", "A,C", "G,T,TT", "", ",", "é,C"]).tolist() == [0, 1, 2, 0, 1, 1]
    assert _commas(["A\t,", "C"]).tolist() == [1, 0]     # a tab inside: counted one at a time


def test_snv_bases_are_the_normalised_bytes_of_every_snv_and_zero_elsewhere():
    # plain SNVs (one lower case), an MNV trimmed to an SNV (the per-allele path), REF == ALT,
    # an insertion and a symbolic allele
    al = _chunk(["A", "c", "GAT", "T", "A", "A"], ["G", "T", "GCT", "T", "AT", "<DEL>"],
                [".", ".", ".", ".", ".", "END=110"])
    assert al.kind.tolist() == [Kind.SNV, Kind.SNV, Kind.SNV, Kind.NONE, Kind.INS, Kind.SYMBOLIC]
    ref, alt = al.snv_bases
    assert bytes(ref).replace(b"\0", b".") == b"ACA..." and bytes(alt).replace(b"\0", b".") == b"GTC..."
