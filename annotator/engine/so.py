"""Sequence Ontology consequence terms, in Ensembl VEP's severity order.

Each term is one bit; bit 0 is the most severe. So the most severe term of a
consequence mask is its lowest set bit, which vectorises with numpy.
"""
from __future__ import annotations

import numpy as np

# (term, IMPACT) most severe first, as VEP orders them (only the terms this engine emits).
TERMS: tuple[tuple[str, str], ...] = (
    ("transcript_ablation", "HIGH"),
    ("splice_acceptor_variant", "HIGH"),
    ("splice_donor_variant", "HIGH"),
    ("stop_gained", "HIGH"),
    ("frameshift_variant", "HIGH"),
    ("stop_lost", "HIGH"),
    ("start_lost", "HIGH"),
    ("feature_elongation", "HIGH"),
    ("feature_truncation", "HIGH"),
    ("inframe_insertion", "MODERATE"),
    ("inframe_deletion", "MODERATE"),
    ("missense_variant", "MODERATE"),
    ("protein_altering_variant", "MODERATE"),
    ("splice_region_variant", "LOW"),
    ("incomplete_terminal_codon_variant", "LOW"),
    ("start_retained_variant", "LOW"),
    ("stop_retained_variant", "LOW"),
    ("synonymous_variant", "LOW"),
    ("coding_sequence_variant", "MODIFIER"),
    ("5_prime_UTR_variant", "MODIFIER"),
    ("3_prime_UTR_variant", "MODIFIER"),
    ("non_coding_transcript_exon_variant", "MODIFIER"),
    ("intron_variant", "MODIFIER"),
    ("non_coding_transcript_variant", "MODIFIER"),
    ("upstream_gene_variant", "MODIFIER"),
    ("downstream_gene_variant", "MODIFIER"),
    ("intergenic_variant", "MODIFIER"),
)

NAMES: tuple[str, ...] = tuple(t for t, _ in TERMS)
IMPACTS: tuple[str, ...] = ("HIGH", "MODERATE", "LOW", "MODIFIER")
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(NAMES)}
IMPACT_OF: dict[str, str] = dict(TERMS)
# Impact rank per term index (0 = HIGH), for vectorised impact lookup.
IMPACT_RANK = np.array([IMPACTS.index(imp) for _, imp in TERMS], dtype=np.int8)
NO_TERM = len(NAMES)  # rank given to an empty mask (sorts after every real term)

# Terms that count as "coding" for comparisons with bcftools csq (docs/concordance.md).
CODING: frozenset[str] = frozenset({
    "splice_acceptor_variant", "splice_donor_variant", "stop_gained", "frameshift_variant",
    "stop_lost", "start_lost", "inframe_insertion", "inframe_deletion", "missense_variant",
    "stop_retained_variant", "synonymous_variant", "start_retained_variant",
})


def most_severe_rank(masks: np.ndarray) -> np.ndarray:
    """Index in NAMES of the most severe term of each mask (NO_TERM for 0)."""
    m = masks.astype(np.uint64)
    low = m & (~m + np.uint64(1))  # isolate lowest set bit
    out = np.full(m.shape, NO_TERM, dtype=np.int16)
    nz = low != 0
    out[nz] = np.log2(low[nz].astype(np.float64)).astype(np.int16)
    return out


_label_cache: dict[int, str] = {}


def label(mask: int) -> str:
    """'&'-joined terms of a mask, most severe first (VEP's Consequence field)."""
    mask = int(mask)
    s = _label_cache.get(mask)
    if s is None:
        s = "&".join(NAMES[i] for i in range(len(NAMES)) if mask >> i & 1)
        _label_cache[mask] = s
    return s


def impact(mask: int) -> str:
    """IMPACT of a mask: that of its most severe term ('' for an empty mask)."""
    mask = int(mask)
    if mask == 0:
        return ""
    return TERMS[(mask & -mask).bit_length() - 1][1]
