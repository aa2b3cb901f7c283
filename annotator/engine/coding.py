"""Codon-level effects for coding pairs, with the reference sequence (per-pair Python).

Only pairs whose every affected base lies in one exon inside the CDS come here (the
vectorised classifier keeps its position-only answer for the rest). For each pair the
affected codons are read from the spliced CDS (reverse-complemented on strand -1), the
ALT applied, both translated, and the position-only terms refined:
coding_sequence_variant -> synonymous / missense / stop_gained / stop_lost /
stop_retained / start_lost / start_retained; in-frame indels gain stop_gained etc.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import hgvs
from .fasta import Reference
from .model import CDS_END_COMPLETE, CDS_START_COMPLETE
from .overlap import TranscriptIndex
from .so import BIT
from .variants import Kind, VcfChunk

_BASES = "TCAG"
_STD_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
STANDARD = {a + b + c: _STD_AA[16 * i + 4 * j + k]
            for i, a in enumerate(_BASES) for j, b in enumerate(_BASES) for k, c in enumerate(_BASES)}
MITO = dict(STANDARD, AGA="*", AGG="*", ATA="M", TGA="W")  # vertebrate mitochondrial code
_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")

U = np.uint64
_REFINED = U(BIT["coding_sequence_variant"] | BIT["start_lost"])


def revcomp(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


def translate(seq: str, table: dict[str, str] = STANDARD) -> str:
    """Amino acids of the complete codons of `seq` ('X' for a codon with N)."""
    return "".join(table.get(seq[i:i + 3], "X") for i in range(0, len(seq) - len(seq) % 3, 3))


@dataclass
class CodingResult:
    mask: np.ndarray
    amino_acids: list[str]
    codons: list[str]
    hgvs_p: list[str]


class CdsReader:
    """Reads stretches of a transcript's spliced CDS (transcript orientation)."""

    def __init__(self, index: TranscriptIndex, reference: Reference) -> None:
        self.index = index
        self.ref = reference

    def cdna(self, tx: int, lo: int, hi: int) -> str:
        """cDNA positions lo..hi (1-based, transcript orientation) of `tx`."""
        b, ix = self.index.bundle, self.index
        contig = b.contigs[b.tx_contig[tx]]
        plus = b.tx_strand[tx] > 0
        parts = []
        for e in range(int(b.tx_exon_off[tx]), int(b.tx_exon_off[tx + 1])):
            s, en = int(b.ex_start[e]), int(b.ex_end[e])
            c0 = int(ix.ex_cdna_off[e]) + 1
            c1 = c0 + en - s
            a, z = max(lo, c0), min(hi, c1)
            if a > z:
                continue
            if plus:
                parts.append((c0, self.ref.fetch(contig, s + a - c0, s + z - c0)))
            else:
                parts.append((c0, revcomp(self.ref.fetch(contig, en - (z - c0), en - (a - c0)))))
        parts.sort()
        return "".join(p for _, p in parts)


def _case(seq: str, o: int, n: int) -> str:
    """Changed bases [o, o+n) upper case, the rest lower (VEP's codons column)."""
    return seq[:o].lower() + seq[o:o + n].upper() + seq[o + n:].lower()


def codon_effects(index: TranscriptIndex, reference: Reference, chunk: VcfChunk,
                  allele: np.ndarray, tx: np.ndarray, c5: np.ndarray, c3: np.ndarray,
                  mask: np.ndarray) -> CodingResult:
    """Refine the masks of coding pairs and fill amino_acids, codons, hgvs_p."""
    b = index.bundle
    n = len(allele)
    out_mask = mask.copy()
    amino, codons, hp = [""] * n, [""] * n, [""] * n
    reader = CdsReader(index, reference)
    # genomic order keeps a bgzipped reference's block cache warm
    order = np.lexsort((chunk.a_pos[allele], b.tx_contig[tx]))
    for k in order.tolist():
        a, t = int(allele[k]), int(tx[k])
        contig = b.contigs[b.tx_contig[t]]
        if not reference.has_contig(contig):
            continue
        cstart, clen = int(index.cds_cdna_start[t]), int(index.cds_len[t])
        flags = int(b.tx_flags[t])
        plus = b.tx_strand[t] > 0
        kind = int(chunk.a_kind[a])
        ref_t, alt_t = chunk.a_ref[a], chunk.a_alt_n[a]
        if not plus:
            ref_t, alt_t = revcomp(ref_t), revcomp(alt_t)
        d5 = int(c5[k]) - cstart + 1
        d3 = int(c3[k]) - cstart + 1
        between = kind == Kind.INS and d5 % 3 == 0        # insertion between two codons
        if between:      # window: the codons either side (context for p. notation)
            k0, k1, o = d5 // 3 - 1, d5 // 3, 3
        elif kind == Kind.INS:
            k0 = k1 = (d5 - 1) // 3
            o = d5 - 3 * k0
        else:
            k0, k1 = (d5 - 1) // 3, (d3 - 1) // 3
            o = d5 - 3 * k0 - 1
        w_lo, w_hi = 3 * k0 + 1, 3 * k1 + 3
        if w_hi > clen - clen % 3 or w_lo < 1:
            continue  # the incomplete terminal codon (or past the CDS): no codon effect
        wr = reader.cdna(t, cstart + w_lo - 1, cstart + w_hi - 1)
        if len(wr) != w_hi - w_lo + 1:
            continue
        nref = 0 if kind == Kind.INS else len(ref_t)
        wa = wr[:o] + alt_t + wr[o + nref:]
        table = MITO if contig == "MT" else STANDARD
        aa_r = translate(wr, table)
        frameshift = (len(alt_t) - nref) % 3 != 0
        aa_a = translate(wa, table) if not frameshift else ""
        m = int(out_mask[k]) & ~int(_REFINED)
        first = k0 == 0 and flags & CDS_START_COMPLETE
        last = w_hi == clen and flags & CDS_END_COMPLETE and aa_r.endswith("*")
        if frameshift:
            if first:
                m |= BIT["start_lost"]
            amino[k] = f"{'-' if between else aa_r}/X"
        else:
            if first and aa_r[:1] == "M" and aa_a[:1] != "M":
                m |= BIT["start_lost"]
            elif first and aa_r[:1] == "M" and kind in (Kind.SNV, Kind.MNV) and wa[:3] != wr[:3]:
                m |= BIT["start_retained_variant"]
            if last and "*" not in aa_a:
                m |= BIT["stop_lost"]
            elif last and aa_a.endswith("*") and aa_r == aa_a:
                m |= BIT["stop_retained_variant"]
            if aa_a.count("*") > aa_r.count("*"):
                m |= BIT["stop_gained"]
            if kind in (Kind.SNV, Kind.MNV) or (kind == Kind.DELINS and len(alt_t) == nref):
                if aa_r == aa_a:
                    if not m & (BIT["stop_retained_variant"] | BIT["start_retained_variant"]):
                        m |= BIT["synonymous_variant"]
                elif not m & (BIT["start_lost"] | BIT["stop_lost"] | BIT["stop_gained"]):
                    m |= BIT["missense_variant"]
            if between:
                amino[k] = f"-/{translate(alt_t, table)}"
            else:
                amino[k] = aa_r if aa_r == aa_a else f"{aa_r or '-'}/{aa_a or '-'}"
        if between:
            codons[k] = f"-/{alt_t.upper()}"
        else:
            cr = _case(wr, o, nref)
            ca = _case(wa, o, len(alt_t))
            codons[k] = f"{cr or '-'}/{ca or '-'}"
        out_mask[k] = U(m)
        first_p = k0 + 1
        if frameshift:  # p. names the first amino acid that changes in the new frame
            tail = reader.cdna(t, cstart + w_hi, cstart + min(w_hi + 30, clen) - 1) if w_hi < clen else ""
            rr, ra = translate(wr + tail, table), translate(wa + tail, table)
            i = next((j for j in range(min(len(rr), len(ra))) if rr[j] != ra[j]), min(len(rr), len(ra)))
            aa_r, first_p = rr[i:], first_p + i
        if not frameshift and kind in (Kind.INS, Kind.DEL, Kind.DELINS) and not m & BIT["start_lost"]:
            # flanking codons give p. notation its context (p.Lys5_Glu6insGly, dup)
            pre = reader.cdna(t, cstart + w_lo - 4, cstart + w_lo - 2) if k0 > 0 else ""
            nxt = reader.cdna(t, cstart + w_hi, cstart + w_hi + 2) if w_hi + 3 <= clen - clen % 3 else ""
            pa, na = translate(pre, table), translate(nxt, table)
            aa_r, aa_a, first_p = pa + aa_r + na, pa + aa_a + na, first_p - len(pa)
        hp[k] = hgvs.hgvs_p(str(b.tx_id[t]), m, aa_r, aa_a, first_p, frameshift)
    return CodingResult(mask=out_mask, amino_acids=amino, codons=codons, hgvs_p=hp)
