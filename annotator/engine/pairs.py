"""The consequence table: one row per (alternate allele x overlapping transcript).

An allele that overlaps nothing (within 5 kb) gets one row with tx = -1 and the
intergenic_variant bit. A '*' or NONE allele gets no row at all.
String columns are '' where they do not apply (always, for non-coding rows without FASTA).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPTY = np.empty(0, dtype=object)


@dataclass
class Pairs:
    allele: np.ndarray       # int64 index into the chunk's alleles
    tx: np.ndarray           # int64 transcript index into the bundle, -1 = intergenic
    mask: np.ndarray         # uint64 SO bitmask (annotator.engine.so)
    distance: np.ndarray     # int64 distance to the transcript for up/downstream rows, else 0
    exon: np.ndarray         # object str "3/10" (exon number / exon count) or ''
    intron: np.ndarray       # object str "2/9" or ''
    cdna_pos: np.ndarray     # object str "123" or "123-125" (VEP style, '?' for an unknown side) or ''
    cds_pos: np.ndarray      # object str, as cdna_pos
    protein_pos: np.ndarray  # object str, as cdna_pos
    amino_acids: np.ndarray  # object str "R/W", "L" (synonymous), "-/K" ... or ''
    codons: np.ndarray       # object str "Cgg/Tgg" (changed bases upper case) or ''
    hgvs_c: np.ndarray       # object str "ENST...:c.123G>A" style, '' when not derivable
    hgvs_p: np.ndarray       # object str "ENSP-or-tx:p.Arg41Trp" style, '' when not derivable

    def __len__(self) -> int:
        return len(self.allele)
