"""SO consequences per (allele x transcript): vectorised region classification + orchestration.

Everything that depends only on positions (overlap, exon/intron lookup, UTR/CDS, splice
windows, up/downstream distance, exon/intron numbers, cDNA/CDS/protein positions) is
computed with numpy over all pairs of a chunk at once. Only coding pairs with a reference
sequence go through per-pair Python (coding.py), and HGVS strings (hgvs.py).

Overlap tests use VEP's formula `vs <= e and ve >= s`, where an insertion has
ve = vs - 1: an insertion overlaps a region only when both flanking bases are in it.
See docs/consequences.md for the rules and deviations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import coding, hgvs
from .arrow import bools, ints, numbers, scalar, strings
from .factorize import factorize
from .fasta import Reference
from .model import CDS_START_COMPLETE, Bundle
from .overlap import TranscriptIndex
from .pairs import Pairs, blank, scatter, scatter_objects
from .prep import chrom_codes
from .so import BIT
from .variants import Kind, VcfChunk

U = np.uint64
B = {k: U(v) for k, v in BIT.items()}


def _ov(vs: np.ndarray, ve: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """VEP's overlap test (an insertion, ve = vs - 1, needs both flanks inside)."""
    return (vs <= e) & (ve >= s)


def _span_labels(a: np.ndarray, z: np.ndarray, total: np.ndarray) -> list[str]:
    """'2-3/10' for variants spanning several exons (or introns), whatever the strand."""
    return [f"{x}-{y}/{n}" for x, y, n in zip(np.minimum(a, z).tolist(), np.maximum(a, z).tolist(),
                                              total.tolist())]


class _Labels:
    """Every 'num/total' label (1 <= num <= total <= the largest total seen so far) at index
    total * (total - 1) / 2 + num: a chunk's labels are one numpy gather and one Arrow take,
    not a hash of its ~60k (num, total) pairs. Grown by doubling (~2 ms up to 128 in all);
    (top, table) is replaced as one tuple, so a concurrent reader never sees a short table."""

    MAX_TOTAL = 1024     # ~525k labels, ~6 MB; a model with longer transcripts labels per chunk

    def __init__(self) -> None:
        self.current = (0, strings([""]))     # index 0: no label

    def codes(self, num: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        """The labels' indices, and the table they index."""
        top, table = self.current
        need = int(total.max()) if len(total) else 0
        if need > self.MAX_TOTAL:      # not a table of every label up to `need`: this chunk's own
            codes, pairs = factorize(num << 32 | total)
            labels = [f"{k >> 32}/{k & 0xFFFFFFFF}" for k in pairs.tolist()]
            return codes.astype(np.int64) + 1, strings([""] + labels)
        if need > top:
            top = max(need, 2 * top, 64)
            labels = [f"{k}/{t}" for t in range(1, top + 1) for k in range(1, t + 1)]
            self.current = top, table = top, strings([""] + labels)
        return total * (total - 1) // 2 + num, table


_LABELS = _Labels()


def _label_column(n: int, one: np.ndarray, num: np.ndarray, total: np.ndarray,
                  span: np.ndarray, span_labels: list[str]) -> pa.Array:
    """Exon/intron column: 'num/total' at rows `one`, the span labels at rows `span`, ''
    elsewhere."""
    idx = np.zeros(n, np.int64)
    idx[one], table = _LABELS.codes(num.astype(np.int64), total.astype(np.int64))
    if len(span):
        idx[span] = np.arange(len(table), len(table) + len(span))
        table = pa.concat_arrays([table, strings(span_labels)])
    return table.take(ints(idx))


@dataclass
class Regions:
    """Per-pair arrays of the region classification (rows = kept pairs)."""
    allele: np.ndarray
    tx: np.ndarray
    mask: np.ndarray
    distance: np.ndarray
    vs: np.ndarray
    ve: np.ndarray
    kind: np.ndarray
    within: np.ndarray       # inside the transcript (not up/downstream)
    cds_only: np.ndarray     # every affected base in one exon, inside the CDS
    c5: np.ndarray           # cDNA pos of the variant's 5' end (transcript orientation), 0 = intronic
    c3: np.ndarray           # cDNA pos of the 3' end
    exon: pa.Array           # str per pair, '' where none
    intron: pa.Array


def classify(index: TranscriptIndex, chunk: VcfChunk, allele: np.ndarray, tx: np.ndarray,
             a_lend: np.ndarray) -> Regions:
    """Region terms for (allele, tx) pairs; drops pairs farther than the flank.
    `a_lend` is len(ALT) - len(REF) per allele (normalised)."""
    b = index.bundle
    vs = chunk.a_pos[allele]
    ve = chunk.a_end[allele]
    ts, te = b.tx_start[tx], b.tx_end[tx]
    within = _ov(vs, ve, ts, te)
    left = ve < ts
    distance = np.where(within, 0, np.where(left, ts - ve, vs - te))
    keep = distance <= index.flank
    if not keep.all():
        allele, tx, vs, ve, within, left, distance = (
            x[keep] for x in (allele, tx, vs, ve, within, left, distance))
    n = len(allele)
    plus_all = b.tx_strand[tx] > 0
    mask = np.zeros(n, dtype=U)
    upstream = ~within & (left == plus_all)
    mask[upstream] |= B["upstream_gene_variant"]
    mask[~within & ~upstream] |= B["downstream_gene_variant"]
    kind_all = chunk.a_kind[allele]
    c5_all = np.zeros(n, np.int64)
    c3_all = np.zeros(n, np.int64)
    cds_only_all = np.zeros(n, bool)

    w = np.nonzero(within)[0]          # everything below: pairs inside the transcript
    t, vs, ve, plus, kind = tx[w], vs[w], ve[w], plus_all[w], kind_all[w]
    nw = len(w)
    m = np.zeros(nw, dtype=U)
    ts, te = b.tx_start[t], b.tx_end[t]
    ins = kind == Kind.INS
    cs, ce = b.tx_cds_start[t], b.tx_cds_end[t]
    coding_tx = cs > 0

    # ---- exons
    e0, e1 = index.exon_range(t, vs, ve)
    n_ex = np.maximum(e1 - e0 + 1, 0)
    exonic = n_ex > 0
    e0c = np.minimum(e0, max(len(b.ex_start) - 1, 0))
    e1c = np.maximum(e1, 0)
    first_ex = np.maximum(vs, b.ex_start[e0c])
    last_ex = np.minimum(ve, b.ex_end[e1c])
    lo_side = exonic & (first_ex <= cs - 1)      # exonic part genomically left of the CDS
    hi_side = exonic & (last_ex >= ce + 1)
    in_cds = exonic & coding_tx & (first_ex <= ce) & (last_ex >= cs)
    # an insertion right at a CDS end adds UTR sequence (its flanks straddle the boundary)
    lo_side |= exonic & ins & (vs == cs)
    hi_side |= exonic & ins & (vs == ce + 1)
    m[coding_tx & np.where(plus, lo_side, hi_side)] |= B["5_prime_UTR_variant"]
    m[coding_tx & np.where(plus, hi_side, lo_side)] |= B["3_prime_UTR_variant"]
    m[exonic & ~coding_tx] |= B["non_coding_transcript_exon_variant"]

    # ---- introns within 3 bases of the variant (splice windows), then those it overlaps
    i0, i1 = index.intron_range(t, vs - 3, ve + 3)
    has_in = i1 >= i0
    donor = np.zeros(nw, bool)
    acceptor = np.zeros(nw, bool)
    region = np.zeros(nw, bool)
    intronic = np.zeros(nw, bool)
    n_in_ov = np.zeros(nw, np.int64)
    i0o = np.zeros(nw, np.int64)
    if len(index.in_start) and has_in.any():
        for j in (i0, i1):
            jc = np.clip(j, 0, len(index.in_start) - 1)
            s, e = index.in_start[jc], index.in_end[jc]
            site5 = _ov(vs, ve, s, s + 1)
            site3 = _ov(vs, ve, e - 1, e)
            donor |= has_in & np.where(plus, site5, site3)
            acceptor |= has_in & np.where(plus, site3, site5)
            region |= has_in & (_ov(vs, ve, s - 3, s + 7) | _ov(vs, ve, e - 7, e + 3))
            intronic |= has_in & (_ov(vs, ve, s + 2, e - 2) | (ins & ((vs == s + 2) | (ve == e - 2))))
        spans = has_in & (i1 - i0 >= 2)
        donor |= spans
        acceptor |= spans
        intronic |= spans
        i0o, i1o = index.intron_range_inside(t, vs, ve, i0, i1)
        n_in_ov = np.maximum(i1o - i0o + 1, 0)
    m[donor] |= B["splice_donor_variant"]
    m[acceptor] |= B["splice_acceptor_variant"]
    m[region & ~donor & ~acceptor] |= B["splice_region_variant"]
    m[intronic] |= B["intron_variant"]
    m[~coding_tx & ~exonic] |= B["non_coding_transcript_variant"]

    # ---- positions (cDNA) of the variant's ends, transcript orientation; exonic pairs only
    c5 = np.zeros(nw, np.int64)
    c3 = np.zeros(nw, np.int64)
    x = np.nonzero(exonic)[0]
    if len(x):
        xi = ins[x]
        cl, _ = index.cdna_of(t[x], np.where(xi, vs[x] - 1, vs[x]))
        cr, _ = index.cdna_of(t[x], np.where(xi, vs[x], ve[x]))
        c5[x] = np.where(plus[x], cl, cr)
        c3[x] = np.where(plus[x], cr, cl)

    # ---- coding terms that need no sequence
    # every base in one exon inside the CDS (a deletion running past the transcript end is not)
    cds_only = in_cds & (n_ex == 1) & (n_in_ov == 0) & (first_ex >= cs) & (last_ex <= ce) & (vs >= ts) & (ve <= te)
    cds_only |= in_cds & ins & (n_ex == 1) & (vs - 1 >= cs) & (vs <= ce)
    cstart = index.cds_cdna_start[t]
    cds5 = c5 - cstart + 1
    cds3 = c3 - cstart + 1
    start_complete = (b.tx_flags[t] & CDS_START_COMPLETE) != 0
    # any change inside the first codon (or a variant straddling the CDS start) loses the ATG
    first_codon = in_cds & start_complete & np.where(
        cds_only, np.where(ins, (cds5 >= 1) & (cds5 <= 2), (cds5 >= 1) & (cds5 <= 3)),
        _ov(vs, ve, np.where(plus, cs, ce - 2), np.where(plus, cs + 2, ce)))
    lend = a_lend[allele[w]]
    indel = (kind == Kind.INS) | (kind == Kind.DEL) | (kind == Kind.DELINS)
    fs = cds_only & indel & (lend % 3 != 0)
    m[fs] |= B["frameshift_variant"]
    m[cds_only & indel & (lend % 3 == 0) & (lend > 0)] |= B["inframe_insertion"]
    m[cds_only & indel & (lend % 3 == 0) & (lend < 0)] |= B["inframe_deletion"]
    m[first_codon] |= B["start_lost"]
    m[in_cds & ~fs & ~first_codon & ~(cds_only & indel & (lend != 0))] |= B["coding_sequence_variant"]
    clen = index.cds_len[t]       # a padded 5'-incomplete CDS (index.cds_pad) ends in a whole codon
    partial = in_cds & (index.cds_pad[t] == 0) & (clen % 3 != 0) & (np.maximum(cds5, cds3) > clen - clen % 3)
    m[partial] |= B["incomplete_terminal_codon_variant"] | B["coding_sequence_variant"]

    # ---- symbolic alleles: no codon effects; truncation / elongation of exonic sequence
    sym = kind == Kind.SYMBOLIC
    is_del = kind == Kind.DEL
    if sym.any():
        alt = np.array([chunk.a_alt_n[i][:4].upper() for i in allele[w][sym]], dtype=object)
        coding_bits = B["frameshift_variant"] | B["inframe_insertion"] | B["inframe_deletion"] | B["start_lost"]
        ms = m[sym] & ~coding_bits
        ms[(alt == "<DEL") & exonic[sym]] |= B["feature_truncation"]
        ms[((alt == "<DUP") | (alt == "<INS")) & exonic[sym]] |= B["feature_elongation"]
        ms[in_cds[sym]] |= B["coding_sequence_variant"]
        m[sym] = ms
        is_del[sym] = alt == "<DEL"
        cds_only &= ~sym

    # ---- transcript ablation: a deletion covering the whole transcript
    m[is_del & (vs <= ts) & (ve >= te)] = B["transcript_ablation"]

    # ---- exon / intron numbers (written straight into the per-pair columns)
    one = np.flatnonzero(exonic & (n_ex == 1))
    k = np.flatnonzero(n_ex > 1)
    e = e0c[one]
    exon = _label_column(n, w[one], index.exon_number(e), index.n_exons[index.ex_tx[e]], w[k],
                         _span_labels(index.exon_number(e0c[k]), index.exon_number(e1c[k]), index.n_exons[t[k]]))
    if len(index.in_start) and has_in.any():
        i0c = np.clip(i0o, 0, len(index.in_start) - 1)
        one = np.flatnonzero(n_in_ov == 1)
        k = np.flatnonzero(n_in_ov > 1)
        i = i0c[one]
        intron = _label_column(n, w[one], index.intron_number(i), index.n_introns[index.in_tx[i]], w[k],
                               _span_labels(index.intron_number(i0c[k]), index.intron_number(i1o[k]),
                                            index.n_introns[t[k]]))
    else:
        intron = blank(n)

    mask[w] = m
    c5_all[w], c3_all[w], cds_only_all[w] = c5, c3, cds_only
    return Regions(allele=allele, tx=tx, mask=mask, distance=distance,
                   vs=chunk.a_pos[allele], ve=chunk.a_end[allele], kind=kind_all, within=within,
                   cds_only=cds_only_all, c5=c5_all, c3=c3_all, exon=exon, intron=intron)


_UNKNOWN, _DASH = scalar("?"), scalar("-")


def _range_strings(a: np.ndarray, z: np.ndarray, ok: np.ndarray) -> pa.Array:
    """VEP position strings: 'a' when a == z, else 'a-z'; 0 stands for an unknown side ('?')."""
    idx = np.flatnonzero(ok)
    x, y = a[idx], z[idx]
    sx, sy = numbers(x), numbers(y)
    qx = pc.if_else(bools(x == 0), _UNKNOWN, sx)
    qy = pc.if_else(bools(y == 0), _UNKNOWN, sy)
    return scatter(len(a), idx, pc.if_else(bools(x == y), sx, pc.binary_join_element_wise(qx, qy, _DASH)))


def positions(index: TranscriptIndex, r: Regions) -> tuple[pa.Array, pa.Array, pa.Array]:
    """cdna_pos, cds_pos, protein_pos strings for every exonic pair."""
    tx = r.tx
    exonic = (r.c5 > 0) | (r.c3 > 0)
    cdna = _range_strings(r.c5, r.c3, exonic)
    cstart, cend = index.cds_cdna_start[tx], index.cds_cdna_end[tx]
    coding = (cstart > 0) & exonic
    in5 = coding & (r.c5 >= cstart) & (r.c5 <= cend)
    in3 = coding & (r.c3 >= cstart) & (r.c3 <= cend)
    d5 = np.where(in5, r.c5 - cstart + 1, 0)
    d3 = np.where(in3, r.c3 - cstart + 1, 0)
    cds = _range_strings(d5, d3, in5 | in3)
    pad = index.cds_pad[tx]       # protein positions count the N padding of a 5'-incomplete CDS
    p5 = np.where(in5, (d5 + pad + 2) // 3, 0)
    p3 = np.where(in3, (d3 + pad + 2) // 3, 0)
    prot = _range_strings(p5, p3, in5 | in3)
    return cdna, cds, prot


def annotate_chunk(bundle: Bundle, index: TranscriptIndex, chunk: VcfChunk,
                   reference: Reference | None, *, with_hgvs: bool = True) -> Pairs:
    """All (allele x transcript) consequence rows of a chunk; see pairs.Pairs.

    Alleles on contigs the bundle lacks, '*' and no-ALT alleles get no row.
    `with_hgvs=False` skips the HGVS strings (the costliest string work).
    """
    codes, names = chrom_codes(chunk)
    rec_cid = np.array([bundle.contig_id(c) for c in names], dtype=np.int64)[codes]
    a_cid = rec_cid[chunk.a_rec] if chunk.n_alleles else np.zeros(0, np.int64)
    kind = chunk.a_kind
    live = np.nonzero((a_cid >= 0) & (kind != Kind.STAR) & (kind != Kind.NONE))[0]
    q, t = index.query(a_cid[live], chunk.a_pos[live], chunk.a_end[live])
    a_lend = np.zeros(chunk.n_alleles, np.int64)
    ind = np.nonzero((kind >= Kind.INS) & (kind <= Kind.DELINS))[0]
    a_lend[ind] = [len(chunk.a_alt_n[i]) - len(chunk.a_ref[i]) for i in ind.tolist()]
    r = classify(index, chunk, live[q], t, a_lend)
    n = len(r.allele)

    # output rows: the pairs plus one intergenic row per live allele with no kept pair, sorted
    # by allele, then transcript. The pairs come so ordered (index.query), and so do the lone
    # alleles: pair k goes to row dp[k], lone allele j to row dl[j], merged by counting.
    has = np.zeros(chunk.n_alleles, bool)
    has[r.allele] = True
    lone = live[~has[live]]
    dp = np.arange(n) + np.searchsorted(lone, r.allele)
    dl = np.arange(len(lone)) + np.searchsorted(r.allele, lone)
    allele = np.empty(n + len(lone), np.int64)
    allele[dp] = r.allele
    allele[dl] = lone

    def place(x: np.ndarray, fill: object) -> np.ndarray:
        """Pair values at their rows, `fill` on the intergenic rows (no temporary copies)."""
        out = np.empty(len(allele), dtype=x.dtype)
        out[dp] = x
        out[dl] = fill
        return out

    def place_str(x: pa.Array) -> pa.Array:
        """A string column of the pairs at their rows, '' on the intergenic rows (sharing the
        pairs' strings: their rows ascend)."""
        return scatter(len(allele), dp, x)

    def sparse(rows: np.ndarray, values: np.ndarray) -> pa.Array:
        """A string column that is '' except at pair rows `rows` (object array of str)."""
        return scatter_objects(len(allele), dp[rows], values)

    cdna, cds, prot = positions(index, r)
    amino = codons = hp = None
    if reference is not None:
        rows = np.nonzero(r.cds_only & (r.kind != Kind.SYMBOLIC))[0]
        if len(rows):
            res = coding.codon_effects(index, reference, chunk, r.allele[rows], r.tx[rows],
                                       r.c5[rows], r.c3[rows], r.mask[rows])
            r.mask[rows] = res.mask
            amino = sparse(rows, res.amino_acids)
            codons = sparse(rows, res.codons)
            if with_hgvs:
                hp = sparse(rows, res.hgvs_p)
    hc = place_str(hgvs.hgvs_c(index, chunk, reference, r.allele, r.tx, r.within, r.mask)) if with_hgvs \
        else blank(len(allele))
    if amino is None or codons is None or hp is None:
        empty = blank(len(allele))   # one shared all-'' column
        amino, codons, hp = (empty if x is None else x for x in (amino, codons, hp))
    return Pairs(
        allele=allele,
        tx=place(r.tx, -1),
        mask=place(r.mask, B["intergenic_variant"]),
        distance=place(r.distance, 0),
        exon=place_str(r.exon), intron=place_str(r.intron),
        cdna_pos=place_str(cdna), cds_pos=place_str(cds), protein_pos=place_str(prot),
        amino_acids=amino, codons=codons, hgvs_c=hc, hgvs_p=hp,
    )
