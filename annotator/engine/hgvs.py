"""HGVS c./n. and p. notation (VEP style).

c./n. coordinates are computed with numpy for all pairs at once (exonic: cDNA position
relative to the CDS, '-N' in the 5' UTR, '*N' in the 3' UTR; intronic: nearest exon base
plus '+N'/'-N', '+' on a tie). Only the strings are built per row.

Without a reference: SNVs, MNVs and delins (the VCF gives the bases). Deletions and
insertions need the reference to be shifted 3' in transcript orientation (HGVS rule; VCFs
are left-aligned) and to tell a duplication from an insertion, so they need a FASTA.
"""
from __future__ import annotations

import numpy as np

from .fasta import Reference
from .overlap import SHIFT, TranscriptIndex
from .so import BIT
from .variants import Kind, VcfChunk

_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")
AA3 = {"A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
       "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
       "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "Ter",
       "X": "Xaa", "U": "Sec"}
_WINDOW = 64


def _rc(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


def _aa3(seq: str) -> str:
    return "".join(AA3.get(c, "Xaa") for c in seq)


def c_coords(index: TranscriptIndex, tx: np.ndarray, g: np.ndarray) -> list[str]:
    """HGVS coordinate of genomic position g in transcript tx ('' outside the transcript)."""
    b = index.bundle
    tx = np.asarray(tx, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    if len(tx) == 0:
        return []
    cdna, ok = index.cdna_of(tx, g)
    plus = b.tx_strand[tx] > 0
    if len(index.in_start):
        j = np.searchsorted(index.in_key_end, tx * SHIFT + g, side="left")
        jc = np.minimum(j, len(index.in_start) - 1)
        s, e = index.in_start[jc], index.in_end[jc]
        inok = ~ok & (j < len(index.in_start)) & (index.in_tx[jc] == tx) & (s <= g) & (g <= e)
        dl, dr = g - s + 1, e - g + 1
        cl, _ = index.cdna_of(tx, s - 1)
        cr, _ = index.cdna_of(tx, e + 1)
        use_left = np.where(plus, dl <= dr, dl < dr)
        anchor = np.where(ok, cdna, np.where(use_left, cl, cr))
        off = np.where(ok, 0, np.where(use_left, np.where(plus, dl, -dl), np.where(plus, -dr, dr)))
    else:
        inok = np.zeros(len(tx), bool)
        anchor, off = cdna, np.zeros(len(tx), np.int64)
    cs, ce = index.cds_cdna_start[tx], index.cds_cdna_end[tx]
    coding = cs > 0
    star = coding & (anchor > ce)
    val = np.where(coding, np.where(star, anchor - ce, np.where(anchor < cs, anchor - cs, anchor - cs + 1)),
                   anchor)
    valid = ok | inok
    return [("" if not v else f"{'*' if st else ''}{x}{'' if o == 0 else (f'+{o}' if o > 0 else o)}")
            for v, st, x, o in zip(valid.tolist(), star.tolist(), val.tolist(), off.tolist())]


def _shift(reference: Reference, contig: str, pos: int, ref: str, alt: str) -> tuple:
    """Leftmost and rightmost equivalent placements of an insertion or deletion.

    Returns (left_pos, left_seq, right_pos, right_seq): position of the first deleted
    base (or of the base after an insertion) and the rotated indel sequence."""
    seq = ref or alt
    lo = max(1, pos - _WINDOW)
    hi = pos + len(ref) + _WINDOW
    w = reference.fetch(contig, lo, hi)
    i0 = pos - lo                          # index in w of `pos`
    # right shift: the base after the indel equals the indel's first base
    p, s = i0, seq
    after = p + len(ref)
    while after < len(w) and w[after] == s[0]:
        s = s[1:] + s[0]
        p += 1
        after += 1
    right = (p + lo, s)
    p, s = i0, seq
    while p - 1 >= 0 and w[p - 1] == s[-1]:
        s = s[-1] + s[:-1]
        p -= 1
    return p + lo, s, right[0], right[1]


def _allele_ops(chunk: VcfChunk, reference: Reference | None, alleles: np.ndarray) -> tuple:
    """Per allele, the described genomic range and operation for a + strand transcript
    (lo_p, hi_p, op_p) and for a - strand one (lo_m, hi_m, op_m); op None = not derivable.

    Indels are shifted 3' in transcript orientation (right for +, left for -) and
    insertions become dup where HGVS says so."""
    n = len(alleles)
    lo_p, hi_p = chunk.a_pos[alleles].copy(), chunk.a_end[alleles].copy()
    lo_m, hi_m = lo_p.copy(), hi_p.copy()
    op_p, op_m = np.empty(n, dtype=object), np.empty(n, dtype=object)
    kind = chunk.a_kind[alleles]
    ref, alt = chunk.a_ref, chunk.a_alt_n
    x = np.nonzero(kind == Kind.SNV)[0]
    xa = alleles[x].tolist()
    op_p[x] = [f"{ref[a]}>{alt[a]}" for a in xa]
    op_m[x] = [f"{ref[a].translate(_COMP)}>{alt[a].translate(_COMP)}" for a in xa]
    x = np.nonzero((kind == Kind.MNV) | (kind == Kind.DELINS))[0]
    xa = alleles[x].tolist()
    op_p[x] = ["delins" + alt[a] for a in xa]
    op_m[x] = ["delins" + _rc(alt[a]) for a in xa]
    if reference is None:
        return lo_p, hi_p, op_p, lo_m, hi_m, op_m
    for i in np.nonzero((kind == Kind.INS) | (kind == Kind.DEL))[0].tolist():
        a = int(alleles[i])
        contig = chunk.chrom[chunk.a_rec[a]]
        if not reference.has_contig(contig):
            continue
        lp, ls, rp, rs = _shift(reference, contig, int(chunk.a_pos[a]), ref[a], alt[a])
        m = len(ls)
        if kind[i] == Kind.DEL:
            lo_p[i], hi_p[i], op_p[i] = rp, rp + m - 1, "del"
            lo_m[i], hi_m[i], op_m[i] = lp, lp + m - 1, "del"
            continue
        if reference.fetch(contig, rp - m, rp - 1) == rs:
            lo_p[i], hi_p[i], op_p[i] = rp - m, rp - 1, "dup"
        else:
            lo_p[i], hi_p[i], op_p[i] = rp - 1, rp, "ins" + rs
        if reference.fetch(contig, lp, lp + m - 1) == ls:
            lo_m[i], hi_m[i], op_m[i] = lp, lp + m - 1, "dup"
        else:
            lo_m[i], hi_m[i], op_m[i] = lp - 1, lp, "ins" + _rc(ls)
    return lo_p, hi_p, op_p, lo_m, hi_m, op_m


def hgvs_c(index: TranscriptIndex, chunk: VcfChunk, reference: Reference | None,
           allele: np.ndarray, tx: np.ndarray, within: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """hgvs_c strings for every pair ('' where not derivable)."""
    b = index.bundle
    n = len(allele)
    out = np.empty(n, dtype=object)
    out[:] = ""
    kind = chunk.a_kind[allele]
    ok = within & (kind != Kind.SYMBOLIC) & ((mask & np.uint64(BIT["transcript_ablation"])) == 0)
    if reference is None:
        ok &= (kind == Kind.SNV) | (kind == Kind.MNV) | (kind == Kind.DELINS)
    rows = np.nonzero(ok)[0]
    if not len(rows):
        return out
    al = allele[rows]
    if len(al) > 1 and (al[1:] >= al[:-1]).all():    # pairs come grouped by allele
        first = np.concatenate(([True], al[1:] != al[:-1]))
        uniq, u_idx = al[first], np.cumsum(first) - 1
    else:
        uniq, u_idx = np.unique(al, return_inverse=True)
    lo_p, hi_p, op_p, lo_m, hi_m, op_m = _allele_ops(chunk, reference, uniq)
    t = tx[rows]
    plus = b.tx_strand[t] > 0
    g_lo = np.where(plus, lo_p[u_idx], lo_m[u_idx])
    g_hi = np.where(plus, hi_p[u_idx], hi_m[u_idx])
    op = np.where(plus, op_p[u_idx], op_m[u_idx])
    good = np.nonzero(op != None)[0]  # noqa: E711 (element-wise)
    if len(good) < len(rows):
        rows, t, plus, g_lo, g_hi, op = rows[good], t[good], plus[good], g_lo[good], g_hi[good], op[good]
    # coordinates of the 5' and 3' ends in transcript orientation
    g5 = np.where(plus, g_lo, g_hi)
    g3 = np.where(plus, g_hi, g_lo)
    c5 = np.array(c_coords(index, t, g5), dtype=object)
    rng = np.nonzero(g_lo != g_hi)[0]
    c3 = c5.copy()
    if len(rng):
        c3[rng] = c_coords(index, t[rng], g3[rng])
    pref = np.where(index.cds_cdna_start[t] > 0, ":c.", ":n.").astype(object)
    ids = b.tx_id[t]
    single = (g_lo == g_hi).tolist()
    res = [("" if not x or not y else (f"{i}{p}{x}{o}" if one else f"{i}{p}{x}_{y}{o}"))
           for i, p, x, y, o, one in zip(ids.tolist(), pref.tolist(), c5.tolist(), c3.tolist(),
                                         op.tolist(), single)]
    out[rows] = res
    return out


def hgvs_p(tx_id: str, mask: int, aa_r: str, aa_a: str, first: int, frameshift: bool) -> str:
    """p. notation from the reference / alternate peptides of the affected codons,
    `first` being the protein position of aa_r[0]."""
    if mask & BIT["start_lost"]:
        return f"{tx_id}:p.Met1?"
    if frameshift:
        return f"{tx_id}:p.{_aa3(aa_r[:1])}{first}fs" if aa_r else ""
    if aa_r == aa_a:
        return f"{tx_id}:p.{_aa3(aa_r[:1])}{first}=" if aa_r else ""
    p = 0
    while p < len(aa_r) and p < len(aa_a) and aa_r[p] == aa_a[p]:
        p += 1
    s = 0
    while s < len(aa_r) - p and s < len(aa_a) - p and aa_r[-1 - s] == aa_a[-1 - s]:
        s += 1
    r, a = aa_r[p:len(aa_r) - s], aa_a[p:len(aa_a) - s]
    pos = first + p
    if mask & BIT["stop_lost"] and r.startswith("*"):
        return f"{tx_id}:p.Ter{pos}{_aa3(a[:1])}extTer?"
    if "*" in a and a.index("*") == 0:
        return f"{tx_id}:p.{_aa3(r[:1])}{pos}Ter"
    if not r:
        if p == 0:
            return ""
        if aa_r[max(0, p - len(a)):p] == a:
            d0 = pos - len(a)
            rng = f"{_aa3(a[0])}{d0}" if len(a) == 1 else f"{_aa3(a[0])}{d0}_{_aa3(a[-1])}{pos - 1}"
            return f"{tx_id}:p.{rng}dup"
        if p >= len(aa_r):
            return ""
        return f"{tx_id}:p.{_aa3(aa_r[p - 1])}{pos - 1}_{_aa3(aa_r[p])}{pos}ins{_aa3(a)}"
    rng = f"{_aa3(r)}{pos}" if len(r) == 1 else f"{_aa3(r[0])}{pos}_{_aa3(r[-1])}{pos + len(r) - 1}"
    if not a:
        return f"{tx_id}:p.{rng}del"
    if len(r) == 1 and len(a) == 1:
        return f"{tx_id}:p.{rng}{_aa3(a)}"
    return f"{tx_id}:p.{rng}delins{_aa3(a)}"
