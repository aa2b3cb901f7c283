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
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import EMPTY, bools, ints, numbers, scalar, strings
from .factorize import factorize
from .fasta import Prefetch, Reference
from .overlap import SHIFT, TranscriptIndex
from .pairs import blank, scatter
from .prep import chrom_codes, snv_bases
from .so import BIT
from .sortedsearch import searchsorted
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


def c_parts(index: TranscriptIndex, tx: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, ...]:
    """HGVS coordinate of genomic position g in transcript tx, as arrays
    (valid, star, value, offset): the text is '*' if star, then value, then offset as
    '+N'/'-N' unless 0. Not valid outside the transcript's exons and introns."""
    b = index.bundle
    tx = np.asarray(tx, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    cdna, ok = index.cdna_of(tx, g)
    plus = b.tx_strand[tx] > 0
    n_in = len(index.in_start)
    if n_in:
        j = searchsorted(index.in_key_end, tx * SHIFT + g, side="left")
        jc = np.minimum(j, n_in - 1)
        s, e = index.in_start[jc], index.in_end[jc]
        inok = ~ok & (j < n_in) & (index.in_tx[jc] == tx) & (s <= g) & (g <= e)
        dl, dr = g - s + 1, e - g + 1
        # cDNA positions of the exon bases either side of the intron (s - 1 and e + 1)
        lx = index.in_left_exon[jc]
        cl = index.ex_cdna_off[lx] + np.where(plus, b.ex_end[lx] - b.ex_start[lx], 0) + 1
        cr = index.ex_cdna_off[lx + 1] + np.where(plus, 0, b.ex_end[lx + 1] - b.ex_start[lx + 1]) + 1
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
    return ok | inok, star, val, off


def _shift(seq: Prefetch, pos: int, ref: str, alt: str) -> tuple:
    """Leftmost and rightmost equivalent placements of an insertion or deletion.

    Returns (left_pos, left_seq, right_pos, right_seq): position of the first deleted
    base (or of the base after an insertion) and the rotated indel sequence."""
    s = ref or alt
    lo = max(1, pos - _WINDOW)
    w = seq.fetch(lo, pos + len(ref) + _WINDOW)
    i0 = pos - lo                          # index in w of `pos`
    # right shift: the base after the indel equals the indel's first base
    p = i0
    after = p + len(ref)
    while after < len(w) and w[after] == s[0]:
        s = s[1:] + s[0]
        p += 1
        after += 1
    right = (p + lo, s)
    p, s = i0, ref or alt
    while p - 1 >= 0 and w[p - 1] == s[-1]:
        s = s[-1] + s[:-1]
        p -= 1
    return p + lo, s, right[0], right[1]


def _snv_ops(chunk: VcfChunk, alleles: np.ndarray, table: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes into `table` of the '+' and '-' strand ops ("A>G", "T>C") of SNV alleles;
    there are only a dozen distinct ones, so each string is built once."""
    bases = snv_bases(chunk)
    if bases is None:     # not ASCII: one string each
        ref, alt, idx = chunk.a_ref, chunk.a_alt_n, alleles.tolist()
        table += [f"{ref[x]}>{alt[x]}" for x in idx]
        table += [f"{ref[x].translate(_COMP)}>{alt[x].translate(_COMP)}" for x in idx]
        first = np.arange(len(table) - 2 * len(idx), len(table) - len(idx))
        return first, first + len(idx)
    key = bases[0][alleles].astype(np.int64) << 8 | bases[1][alleles]
    uniq = np.flatnonzero(np.bincount(key, minlength=1 << 16))
    code = np.zeros(1 << 16, np.int64)
    code[uniq] = len(table) + 2 * np.arange(len(uniq))
    for k in uniq.tolist():
        x, y = chr(k >> 8), chr(k & 255)
        table += [f"{x}>{y}", f"{x.translate(_COMP)}>{y.translate(_COMP)}"]
    return code[key], code[key] + 1


def _allele_ops(chunk: VcfChunk, reference: Reference | None, alleles: np.ndarray) -> tuple:
    """Per allele, the described genomic range and operation for a + strand transcript
    (lo_p, hi_p, op_p) and for a - strand one (lo_m, hi_m, op_m), and the table of
    operation strings; op_* index that table, -1 = not derivable.

    Indels are shifted 3' in transcript orientation (right for +, left for -) and
    insertions become dup where HGVS says so."""
    n = len(alleles)
    lo_p, hi_p = chunk.a_pos[alleles].copy(), chunk.a_end[alleles].copy()
    lo_m, hi_m = lo_p.copy(), hi_p.copy()
    op_p, op_m = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    table = ["del", "dup"]   # DEL, DUP
    kind = chunk.a_kind[alleles]
    ref, alt = chunk.a_ref, chunk.a_alt_n
    x = np.nonzero(kind == Kind.SNV)[0]
    if len(x):
        op_p[x], op_m[x] = _snv_ops(chunk, alleles[x], table)

    def add(values: list[str]) -> np.ndarray:
        table.extend(values)
        return np.arange(len(table) - len(values), len(table), dtype=np.int64)

    x = np.nonzero((kind == Kind.MNV) | (kind == Kind.DELINS))[0]
    xa = alleles[x].tolist()
    op_p[x] = add(["delins" + alt[a] for a in xa])
    op_m[x] = add(["delins" + _rc(alt[a]) for a in xa])
    if reference is None:
        return lo_p, hi_p, op_p, lo_m, hi_m, op_m, table
    x = np.nonzero((kind == Kind.INS) | (kind == Kind.DEL))[0]
    if not len(x):
        return lo_p, hi_p, op_p, lo_m, hi_m, op_m, table
    rec_codes, names = chrom_codes(chunk)
    codes, contigs = factorize(rec_codes[chunk.a_rec[alleles[x]]])
    for k, contig in enumerate(map(names.__getitem__, contigs.tolist())):
        if not reference.has_contig(contig):
            continue
        idx = x[codes == k] if len(contigs) > 1 else x
        ia = alleles[idx].tolist()
        i_ref, i_alt = list(map(ref.__getitem__, ia)), list(map(alt.__getitem__, ia))
        pos, end = chunk.a_pos[alleles[idx]], chunk.a_end[alleles[idx]]
        pad = _WINDOW + np.maximum(end - pos + 1, 0) + np.fromiter(map(len, i_alt), np.int64, len(ia))
        seq = Prefetch(reference, contig, pos - pad, end + pad)
        d = _indel_ops(seq, pos, i_ref, i_alt, kind[idx] == Kind.DEL, table)
        lo_p[idx], hi_p[idx], op_p[idx], lo_m[idx], hi_m[idx], op_m[idx] = d.T
    return lo_p, hi_p, op_p, lo_m, hi_m, op_m, table


DEL, DUP = 0, 1     # their codes in the operations table


def _indel_ops_one(seq: Prefetch, pos: int, ref: str, alt: str, is_del: bool, table: list[str]) -> tuple:
    """(lo_p, hi_p, op_p, lo_m, hi_m, op_m) of one deletion or insertion; new ops go to `table`."""
    lp, ls, rp, rs = _shift(seq, pos, ref, alt)
    m = len(ls)
    if is_del:
        return rp, rp + m - 1, DEL, lp, lp + m - 1, DEL
    if seq.fetch(rp - m, rp - 1) == rs:
        plus = (rp - m, rp - 1, DUP)
    else:
        table.append("ins" + rs)
        plus = (rp - 1, rp, len(table) - 1)
    if seq.fetch(lp, lp + m - 1) == ls:
        return plus + (lp, lp + m - 1, DUP)
    table.append("ins" + _rc(ls))
    return plus + (lp - 1, lp, len(table) - 1)


def _indel_ops(seq: Prefetch, pos: np.ndarray, ref: list[str], alt: list[str], is_del: np.ndarray,
               table: list[str]) -> np.ndarray:
    """_indel_ops_one for many indels of one contig at once, as an (n, 6) array.

    The 3' shifts are found with numpy, one step for all still-shifting indels at a time
    (most indels do not shift at all), with the window limits of `_shift`. Indels whose bases
    are not plain ASCII or whose window is not held by `seq` go one at a time."""
    n = len(pos)
    out = np.zeros((n, 6), np.int64)
    if not n:
        return out
    s_list = [r or a for r, a in zip(ref, alt)]
    flat_s = "".join(s_list)
    m = np.fromiter(map(len, s_list), np.int64, n)
    lr = np.fromiter(map(len, ref), np.int64, n)
    try:
        flat = np.frombuffer(flat_s.encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        flat = None
    if flat is None or (m == 0).any():
        for i in range(n):
            out[i] = _indel_ops_one(seq, int(pos[i]), ref[i], alt[i], bool(is_del[i]), table)
        return out
    off = np.cumsum(m) - m
    L = seq.length
    slow = np.zeros(n, bool)

    def shift(first: np.ndarray, step: int, last_ok: np.ndarray, char_at) -> np.ndarray:
        k = np.zeros(n, np.int64)
        active = np.arange(n)
        j = 0
        while len(active):
            g = first[active] + step * j
            inside = (g <= last_ok[active]) if step > 0 else (g >= last_ok[active])
            code, held = seq.codes(g)
            slow[active[inside & ~held]] = True
            match = inside & held & (code == flat[off[active] + char_at(active, j)])
            active = active[match]
            k[active] += 1
            j += 1
        return k

    # right: the base after the indel equals its first base (rotating); window ends 64 bases on
    kr = shift(pos + lr, 1, np.minimum(pos + lr + _WINDOW, L), lambda a, j: j % m[a])
    # left: the base before equals its last base; window starts 64 bases back
    kl = shift(pos - 1, -1, np.maximum(1, pos - _WINDOW), lambda a, j: m[a] - 1 - j % m[a])
    rp, lp = pos + kr, pos - kl
    out[:, 0], out[:, 1], out[:, 2] = rp, rp + m - 1, DEL
    out[:, 3], out[:, 4], out[:, 5] = lp, lp + m - 1, DEL
    ins = np.flatnonzero(~is_del & ~slow)
    if len(ins):
        mi = m[ins]
        row = np.repeat(np.arange(len(ins)), mi)
        t = np.arange(int(mi.sum())) - np.repeat(np.cumsum(mi) - mi, mi)

        def equal(start: np.ndarray, rot: np.ndarray) -> np.ndarray:
            """Whether the reference at start.. (m bases) spells s rotated left by `rot`."""
            ok = (start >= 1) & (start + mi - 1 <= L)
            code, held = seq.codes(start[row] + t)
            slow[ins[np.bincount(row, ~held, len(ins)) > 0]] = True
            same = code == flat[off[ins][row] + (t + rot[row]) % mi[row]]
            return ok & (np.bincount(row, ~same, len(ins)) == 0)

        dup_p = equal(rp[ins] - mi, kr[ins] % mi)
        dup_m = equal(lp[ins], -(kl[ins] % mi))
        keep = ~slow[ins]
        for x, dup, rot, pos_, plus in ((ins, dup_p, kr, rp, True), (ins, dup_m, kl, lp, False)):
            c = 0 if plus else 3
            d = x[dup & keep]
            out[d, c], out[d, c + 1], out[d, c + 2] = (pos_[d] - m[d], pos_[d] - 1, DUP) if plus else \
                (pos_[d], pos_[d] + m[d] - 1, DUP)
            e = x[~dup & keep]
            out[e, c], out[e, c + 1] = pos_[e] - 1, pos_[e]
            out[e, c + 2] = len(table) + np.arange(len(e))
            if plus:
                table.extend(["ins" + si[k:] + si[:k] for si, k in zip(map(s_list.__getitem__, e.tolist()),
                                                                      (rot[e] % m[e]).tolist())])
            else:
                table.extend(["ins" + _rc(si[len(si) - k:] + si[:len(si) - k]) for si, k in
                              zip(map(s_list.__getitem__, e.tolist()), (rot[e] % m[e]).tolist())])
    for i in np.flatnonzero(slow).tolist():
        out[i] = _indel_ops_one(seq, int(pos[i]), ref[i], alt[i], bool(is_del[i]), table)
    return out


def hgvs_c(index: TranscriptIndex, chunk: VcfChunk, reference: Reference | None,
           allele: np.ndarray, tx: np.ndarray, within: np.ndarray, mask: np.ndarray) -> pa.Array:
    """hgvs_c strings for every pair ('' where not derivable), as an Arrow string array.

    Coordinates are numpy arrays; the per-row Python is one f-string over a prefix
    (transcript id, c./n., '*') taken from a table of distinct prefixes."""
    b = index.bundle
    n = len(allele)
    kind = chunk.a_kind[allele]
    ok = within & (kind != Kind.SYMBOLIC) & ((mask & np.uint64(BIT["transcript_ablation"])) == 0)
    if reference is None:
        ok &= (kind == Kind.SNV) | (kind == Kind.MNV) | (kind == Kind.DELINS)
    rows = np.nonzero(ok)[0]
    if not len(rows):
        return blank(n)
    al = allele[rows]
    if len(al) > 1 and (al[1:] >= al[:-1]).all():    # pairs come grouped by allele
        first = np.concatenate(([True], al[1:] != al[:-1]))
        uniq, u_idx = al[first], np.cumsum(first) - 1
    else:
        uniq, u_idx = np.unique(al, return_inverse=True)
    lo_p, hi_p, op_p, lo_m, hi_m, op_m, table = _allele_ops(chunk, reference, uniq)
    t = tx[rows]
    plus = b.tx_strand[t] > 0
    g_lo = np.where(plus, lo_p[u_idx], lo_m[u_idx])
    g_hi = np.where(plus, hi_p[u_idx], hi_m[u_idx])
    op = np.where(plus, op_p[u_idx], op_m[u_idx])
    # coordinates of the 5' and 3' ends in transcript orientation
    g5 = np.where(plus, g_lo, g_hi)
    g3 = np.where(plus, g_hi, g_lo)
    valid, star, val, off = c_parts(index, t, g5)
    keep = valid & (op >= 0)
    rng = np.flatnonzero(keep & (g_lo != g_hi))
    valid3, star3, val3, off3 = c_parts(index, t[rng], g3[rng])
    keep[rng[~valid3]] = False
    # distinct prefixes "ENST...:c." / ":n." (+ '*'), one string each
    pkey = t * 2 + star
    seen = np.zeros(2 * b.n_transcripts, bool)
    seen[pkey[keep]] = True
    ukey = np.flatnonzero(seen)
    ut = ukey >> 1
    prefixes = [f"{i}{':c.' if c else ':n.'}{'*' if s else ''}" for i, c, s in zip(
        b.tx_id[ut].tolist(), (index.cds_cdna_start[ut] > 0).tolist(), (ukey & 1).tolist())]
    pre_tab = strings(prefixes)
    lut = np.zeros(2 * b.n_transcripts, np.int64)
    lut[ukey] = np.arange(len(ukey), dtype=np.int64)
    ops = strings(table)
    # single positions: exonic ones (no offset) and intronic ones ('+N' / '-N') joined apart
    one = keep & (g_lo == g_hi)
    k1 = np.flatnonzero(one & (off == 0))
    v1 = _join(pre_tab.take(ints(lut[pkey[k1]])), numbers(val[k1]), ops.take(ints(op[k1])))
    k1i = np.flatnonzero(one & (off != 0))
    o = off[k1i]
    v1i = _join(_intron_heads(prefixes, lut[pkey[k1i]], val[k1i], o > 0), numbers(np.abs(o)), ops.take(ints(op[k1i])))
    r3 = np.flatnonzero(valid3)
    k = rng[r3]
    v2 = _join(pre_tab.take(ints(lut[pkey[k]])), numbers(val[k]), _signed(off[k]), _UNDERSCORE,
               pc.if_else(bools(star3[r3]), _STAR, EMPTY), numbers(val3[r3]), _signed(off3[r3]),
               ops.take(ints(op[k])))
    return scatter(n, rows[np.concatenate([k1, k1i, k])], pa.concat_arrays([v1, v1i, v2]))


_HEAD_VALUE_BIAS = 1 << 31


def _intron_heads(prefixes: list[str], prefix: np.ndarray, anchor: np.ndarray, plus: np.ndarray) -> pa.Array:
    """Per intronic position, its text up to the offset's digits ("ENST...:c.123+"), each distinct
    one built once: the positions of an intron share its two anchors, so a chunk has a few
    hundred distinct heads for ~25k rows (joining prefix, anchor and sign per row cost more)."""
    key = prefix << 33 | (anchor + _HEAD_VALUE_BIAS) << 1 | plus
    codes, uniq = factorize(key)
    heads = [f"{prefixes[k >> 33]}{((k >> 1) & 0xFFFFFFFF) - _HEAD_VALUE_BIAS}{'+' if k & 1 else '-'}"
             for k in uniq.tolist()]
    return strings(heads).take(ints(codes))


def _signed(v: np.ndarray) -> pa.Array:
    """'+N' / '-N' / '' (for 0), as HGVS writes intron offsets."""
    nz = np.flatnonzero(v)           # mostly 0: exonic positions
    x = v[nz]
    s = numbers(x)
    return scatter(len(v), nz, pc.if_else(bools(x > 0), pc.binary_join_element_wise(_PLUS, s, EMPTY), s))


def _join(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """Row-wise concatenation of string columns, done by Arrow in C++: per-row Python
    f-strings over ~2M rows a chunk set cost more than all the coordinate arithmetic."""
    return pc.binary_join_element_wise(*parts, EMPTY)


_PLUS, _STAR, _UNDERSCORE = scalar("+"), scalar("*"), scalar("_")


_AA3_BY_CODE = np.array([AA3.get(chr(i), "Xaa") for i in range(256)], dtype=object)


def hgvs_p_snv(tx_id: np.ndarray, mask: np.ndarray, aa_r: np.ndarray, aa_a: np.ndarray,
               first: np.ndarray) -> np.ndarray:
    """`hgvs_p` of single-codon changes (SNVs) for many at once: the same strings, from
    one-letter codes (uint8) and numpy selections instead of a Python call per pair."""
    r3, a3 = _AA3_BY_CODE[aa_r], _AA3_BY_CODE[aa_a]
    num = first.astype(str).astype(object)
    head = np.asarray(tx_id, dtype=object) + ":p."
    start_lost = (mask & np.uint64(BIT["start_lost"])) != 0
    same = aa_r == aa_a
    ext = ~same & ((mask & np.uint64(BIT["stop_lost"])) != 0) & (aa_r == ord("*"))
    ter = ~same & ~ext & (aa_a == ord("*"))
    out = np.where(start_lost, "Met1?", np.where(
        same, r3 + num + "=", np.where(ext, "Ter" + num + a3 + "extTer?", np.where(ter, r3 + num + "Ter", r3 + num + a3))))
    return head + out


def hgvs_p(tx_id: str, mask: int, aa_r: str, aa_a: str, first: int, frameshift: bool) -> str:
    """p. notation from the reference / alternate peptides of the affected codons,
    `first` being the protein position of aa_r[0]."""
    if mask & BIT["start_lost"]:
        return f"{tx_id}:p.Met1?"
    if frameshift:     # a new frame that starts with a stop is a nonsense change (HGVS)
        if aa_r and aa_a[:1] == "*":
            return f"{tx_id}:p.{_aa3(aa_r[:1])}{first}Ter"
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
