"""Codon-level effects for coding pairs, with the reference sequence.

SNVs (most coding pairs) are done with numpy: codon bases read at once from a per-chunk
Prefetch, translated through a lookup table, terms set with masks, strings built once per
distinct value. Other pairs (MNVs, indels) go through per-pair Python.

Only pairs whose every affected base lies in one exon inside the CDS come here (the
vectorised classifier keeps its position-only answer for the rest). For each pair the
affected codons are read from the spliced CDS (reverse-complemented on strand -1), the
ALT applied, both translated, and the position-only terms refined:
coding_sequence_variant -> synonymous / missense / stop_gained / stop_lost /
stop_retained / start_lost / start_retained; in-frame indels gain stop_gained etc.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from . import hgvs
from .factorize import factorize
from .fasta import Prefetch, Reference
from .model import CDS_END_COMPLETE, CDS_START_COMPLETE
from .overlap import TranscriptIndex
from .prep import snv_bases
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
    amino_acids: np.ndarray      # object str, '' where not derivable
    codons: np.ndarray
    hgvs_p: np.ndarray


def _empty(n: int) -> np.ndarray:
    a = np.empty(n, dtype=object)
    a[:] = ""
    return a


# byte tables: base -> index in _BASES (4 = not ACGT), complement, codon index -> amino acid
_CODE = np.full(256, 4, np.uint8)
_CODE[np.frombuffer(_BASES.encode(), np.uint8)] = np.arange(4)
_COMP_B = np.arange(256, dtype=np.uint8)
_COMP_B[np.frombuffer(b"ACGTNacgtn", np.uint8)] = np.frombuffer(b"TGCANtgcan", np.uint8)


def _aa_table(table: dict[str, str]) -> np.ndarray:
    return np.frombuffer("".join(table[a + b + c] for a in _BASES for b in _BASES for c in _BASES).encode()
                         + b"X", np.uint8)


_AA_STD, _AA_MITO = _aa_table(STANDARD), _aa_table(MITO)


class CdsReader:
    """Reads stretches of a transcript's spliced CDS (transcript orientation)."""

    def __init__(self, index: TranscriptIndex, seqs: dict[int, Prefetch]) -> None:
        self.index = index
        self.seqs = seqs            # contig id -> its prefetched sequence
        self._exons: dict[int, tuple[list[int], list[tuple[int, int, int, int]]]] = {}

    def exons(self, tx: int) -> tuple[list[int], list[tuple[int, int, int, int]]]:
        """The exons of `tx` in transcript order, as (first cDNA position, last, genomic start,
        end), and their first cDNA positions (for bisect). Made once per transcript as plain
        ints: a chunk's coding indels read a few stretches of each of their transcripts, and
        numpy lookups per stretch cost ~20 us."""
        if (got := self._exons.get(tx)) is not None:
            return got
        b, ix = self.index.bundle, self.index
        lo, hi = int(b.tx_exon_off[tx]), int(b.tx_exon_off[tx + 1])
        rows = zip((ix.ex_cdna_off[lo:hi] + 1).tolist(), b.ex_start[lo:hi].tolist(), b.ex_end[lo:hi].tolist())
        exons = sorted((c0, c0 + e - s, s, e) for c0, s, e in rows)
        got = ([x[0] for x in exons], exons)
        self._exons[tx] = got
        return got

    def cdna(self, tx: int, lo: int, hi: int) -> str:
        """cDNA positions lo..hi (1-based, transcript orientation) of `tx`."""
        b = self.index.bundle
        seq = self.seqs[int(b.tx_contig[tx])]
        plus = b.tx_strand[tx] > 0
        firsts, exons = self.exons(tx)
        parts = []
        for c0, c1, s, en in exons[max(bisect_right(firsts, lo) - 1, 0):]:
            if c0 > hi:
                break
            a, z = max(lo, c0), min(hi, c1)
            if a > z:
                continue
            if plus:
                parts.append(seq.fetch(s + a - c0, s + z - c0))
            else:
                parts.append(revcomp(seq.fetch(en - (z - c0), en - (a - c0))))
        return "".join(parts)


def _case(seq: str, o: int, n: int) -> str:
    """Changed bases [o, o+n) upper case, the rest lower (VEP's codons column)."""
    return seq[:o].lower() + seq[o:o + n].upper() + seq[o + n:].lower()


def _strings(keys: np.ndarray, make) -> np.ndarray:
    """Object array of make(key) per row, calling `make` once per distinct key."""
    inv, uniq = factorize(np.asarray(keys, np.int64))
    return np.array([make(k) for k in uniq.tolist()], dtype=object)[inv]


def _snv_codons(index: TranscriptIndex, tx: np.ndarray, c5: np.ndarray) -> tuple[np.ndarray, ...]:
    """For SNV pairs: codon number k0 (0-based), offset of the SNV in it, the genomic
    positions of the codon's three bases (n x 3) and whether the codon is complete.
    Codons are counted in the padded frame (TranscriptIndex.cds_pad)."""
    pad = index.cds_pad[tx]
    cstart, clen = index.cds_cdna_start[tx] - pad, index.cds_len[tx] + pad
    d = c5 - cstart                      # 0-based position in the padded CDS
    k0, o = d // 3, d % 3
    g, ok = index.genomic_of(np.repeat(tx, 3), (cstart + 3 * k0)[:, None].repeat(3, 1).ravel()
                             + np.tile(np.arange(3), len(tx)))
    good = (k0 >= 0) & (3 * k0 >= pad) & (3 * k0 + 3 <= clen - clen % 3) & ok.reshape(-1, 3).all(1)
    return k0, o, g.reshape(-1, 3), good


def _snv_effects(index: TranscriptIndex, chunk: VcfChunk, seqs: dict[int, Prefetch], allele: np.ndarray,
                 tx: np.ndarray, k0: np.ndarray, o: np.ndarray, g: np.ndarray, good: np.ndarray,
                 mask: np.ndarray, res: CodingResult, rows: np.ndarray) -> None:
    """Codon effects of SNV pairs, vectorised (same rules as the per-pair code)."""
    b = index.bundle
    n = len(allele)
    wr = np.zeros((n, 3), np.uint8)
    cid = b.tx_contig[tx]
    for c in np.flatnonzero(np.bincount(cid)).tolist():
        x = np.flatnonzero(cid == c)
        codes, held = seqs[c].codes(g[x].ravel())
        wr[x] = codes.reshape(-1, 3)
        good[x] &= held.reshape(-1, 3).all(1)
    bases = snv_bases(chunk)
    assert bases is not None    # codon_effects sends SNVs here only then
    alt = bases[1][allele]
    minus = b.tx_strand[tx] < 0
    wr[minus] = _COMP_B[wr[minus]]
    alt = np.where(minus, _COMP_B[alt], alt)
    wa = wr.copy()
    wa[np.arange(n), o] = alt
    mt = np.array([c == "MT" for c in b.contigs], bool)[cid] if len(cid) else np.zeros(0, bool)

    def aa(w: np.ndarray) -> np.ndarray:
        c = _CODE[w].astype(np.int64)
        i = np.where((c < 4).all(1), c[:, 0] * 16 + c[:, 1] * 4 + c[:, 2], 64)
        return np.where(mt, _AA_MITO[i], _AA_STD[i])

    ar, aa_ = aa(wr), aa(wa)
    flags = b.tx_flags[tx]
    clen = index.cds_len[tx] + index.cds_pad[tx]
    M, STAR = ord("M"), ord("*")
    bit = {k: U(v) for k, v in BIT.items()}
    m = mask & ~_REFINED
    first = (k0 == 0) & ((flags & CDS_START_COMPLETE) != 0) & (ar == M)
    last = (3 * k0 + 3 == clen) & ((flags & CDS_END_COMPLETE) != 0) & (ar == STAR)
    start_lost = first & (aa_ != M)
    m[start_lost] |= bit["start_lost"]
    m[first & ~start_lost & (wa != wr).any(1)] |= bit["start_retained_variant"]
    stop_lost = last & (aa_ != STAR)
    m[stop_lost] |= bit["stop_lost"]
    m[last & ~stop_lost & (ar == aa_)] |= bit["stop_retained_variant"]
    m[(aa_ == STAR) & (ar != STAR)] |= bit["stop_gained"]
    same = ar == aa_
    kept = bit["stop_retained_variant"] | bit["start_retained_variant"]
    m[same & ((m & kept) == 0)] |= bit["synonymous_variant"]
    lost = bit["start_lost"] | bit["stop_lost"] | bit["stop_gained"]
    m[~same & ((m & lost) == 0)] |= bit["missense_variant"]

    x = np.flatnonzero(good)
    if not len(x):
        return
    r = rows[x]
    res.mask[r] = m[x]
    res.amino_acids[r] = _strings(ar[x].astype(np.int64) << 8 | aa_[x],
                                  lambda k: chr(k >> 8) if k >> 8 == k & 255 else f"{chr(k >> 8)}/{chr(k & 255)}")
    key = o[x].astype(np.int64)
    for j in range(3):
        key = key | wr[x, j].astype(np.int64) << (8 * j + 8) | wa[x, j].astype(np.int64) << (8 * j + 32)

    def codon(k: int) -> str:
        w = bytes((k >> 8 & 255, k >> 16 & 255, k >> 24 & 255)).decode("latin-1")
        v = bytes((k >> 32 & 255, k >> 40 & 255, k >> 48 & 255)).decode("latin-1")
        return f"{_case(w, k & 255, 1)}/{_case(v, k & 255, 1)}"

    res.codons[r] = _strings(key, codon)
    res.hgvs_p[r] = hgvs.hgvs_p_snv(b.tx_id[tx[x]], m[x], ar[x], aa_[x], k0[x] + 1)


def codon_effects(index: TranscriptIndex, reference: Reference, chunk: VcfChunk,
                  allele: np.ndarray, tx: np.ndarray, c5: np.ndarray, c3: np.ndarray,
                  mask: np.ndarray) -> CodingResult:
    """Refine the masks of coding pairs and fill amino_acids, codons, hgvs_p."""
    b = index.bundle
    n = len(allele)
    res = CodingResult(mask=mask.copy(), amino_acids=_empty(n), codons=_empty(n), hgvs_p=_empty(n))
    cid = b.tx_contig[tx]
    present = np.array([reference.has_contig(c) for c in b.contigs], bool)
    live = present[cid] if n else np.zeros(0, bool)
    kind = chunk.a_kind[allele]
    snv = np.flatnonzero(live & (kind == Kind.SNV))
    if len(snv) and snv_bases(chunk) is None:
        snv = snv[:0]        # (not one ASCII byte each: leave them to the per-pair code)
    is_snv = np.zeros(n, bool)
    is_snv[snv] = True
    rest = np.flatnonzero(live & ~is_snv)      # (not np.setdiff1d: it sorts, 2 ms a chunk)
    k0, o, g, good = _snv_codons(index, tx[snv], c5[snv])
    # one prefetch per contig: the SNV codon bases, and a window around every other pair
    pad = 64 + np.array([len(chunk.a_ref[a]) + len(chunk.a_alt_n[a]) for a in allele[rest].tolist()], np.int64)
    seqs = {}
    for c in np.flatnonzero(np.bincount(cid[live])).tolist():
        xr = rest[cid[rest] == c]
        gs = g[cid[snv] == c].ravel()
        gs = gs[gs > 0]
        pr = pad[cid[rest] == c]
        lo = np.concatenate([gs, chunk.a_pos[allele[xr]] - pr])
        hi = np.concatenate([gs, chunk.a_end[allele[xr]] + pr])
        seqs[c] = Prefetch(reference, b.contigs[c], lo, hi)
    if len(snv):
        _snv_effects(index, chunk, seqs, allele[snv], tx[snv], k0, o, g, good, mask[snv], res, snv)
    reader = CdsReader(index, seqs)
    out_mask, amino, codons, hp = res.mask, res.amino_acids, res.codons, res.hgvs_p
    for k in rest.tolist():
        a, t = int(allele[k]), int(tx[k])
        contig = b.contigs[b.tx_contig[t]]
        pad = int(index.cds_pad[t])     # padded frame: see TranscriptIndex.cds_pad
        cstart, clen = int(index.cds_cdna_start[t]) - pad, int(index.cds_len[t]) + pad
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
        if w_hi > clen - clen % 3 or w_lo < 1 + pad:
            continue  # an incomplete first/last codon (or past the CDS): no codon effect
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
            # VEP's peptide alleles: the whole codons of the changed stretch translated, 'X' for
            # the trailing partial codon; a stop among them is stop_gained (a frameshift creating
            # an immediate stop), a stop codon no longer there is stop_lost
            ca_ = alt_t if between else wa
            pep_r = "-" if between else aa_r
            pep_a = (translate(ca_, table) + ("X" if len(ca_) % 3 else "")) or "-"
            if first and not between:
                m |= BIT["start_lost"]
            if "*" in pep_a and "*" not in pep_r:
                m |= BIT["stop_gained"]
            elif last and "*" in pep_r and "*" not in pep_a:
                m |= BIT["stop_lost"]
            amino[k] = f"{pep_r}/{pep_a}"
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
            aa_r, aa_a, first_p = rr[i:], ra[i:], first_p + i
        if not frameshift and kind in (Kind.INS, Kind.DEL, Kind.DELINS) and not m & BIT["start_lost"]:
            # flanking codons give p. notation its context (p.Lys5_Glu6insGly, dup)
            pre = reader.cdna(t, cstart + w_lo - 4, cstart + w_lo - 2) if k0 > 0 and 3 * k0 - 3 >= pad else ""
            nxt = reader.cdna(t, cstart + w_hi, cstart + w_hi + 2) if w_hi + 3 <= clen - clen % 3 else ""
            pa, na = translate(pre, table), translate(nxt, table)
            aa_r, aa_a, first_p = pa + aa_r + na, pa + aa_a + na, first_p - len(pa)
        hp[k] = hgvs.hgvs_p(str(b.tx_id[t]), m, aa_r, aa_a, first_p, frameshift)
    return res
