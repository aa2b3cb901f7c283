"""Interval index over a bundle's transcripts, plus the per-transcript tables that the
vectorised consequence code needs (built once per bundle, reused for every chunk).

Coordinates of all contigs are folded into one int64 axis (contig id << 32 | position),
so a single NCLS answers queries for a whole chunk at once. Exons and introns are
searchable per transcript with `searchsorted` on the key `tx * 2**32 + position`: the
bundle stores a transcript's exons in ascending order and transcripts one after another,
so that key is globally sorted.
"""
from __future__ import annotations

import numpy as np
from ncls import NCLS

from .model import Bundle

SHIFT = np.int64(1 << 32)


def _labels(num: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Object array of 'num/total' strings (exon and intron numbers, VEP style)."""
    out = np.empty(len(num), dtype=object)
    out[:] = [f"{a}/{b}" for a, b in zip(num.tolist(), total.tolist())]
    return out


class TranscriptIndex:
    """Overlap queries (transcript +/- flank) and exon/intron/cDNA lookup tables."""

    def __init__(self, bundle: Bundle, flank: int = 5000) -> None:
        self.bundle = bundle
        self.flank = int(flank)
        b = bundle
        n_tx = b.n_transcripts
        tx_ids = np.arange(n_tx, dtype=np.int64)
        off = b.tx_contig.astype(np.int64) * SHIFT
        # (NCLS misbehaves with negative coordinates: clip at 0, positions are >= 1 anyway)
        self._ncls = NCLS(off + np.maximum(b.tx_start - self.flank, 0), off + b.tx_end + self.flank + 1, tx_ids)

        # ---- exons
        ex_off = b.tx_exon_off.astype(np.int64)
        n_ex = np.diff(ex_off)
        self.n_exons = n_ex
        ex_tx = np.repeat(tx_ids, n_ex)
        self.ex_tx = ex_tx
        ex_len = b.ex_end - b.ex_start + 1
        csum = np.concatenate(([0], np.cumsum(ex_len)))
        before = csum[:-1] - csum[ex_off[:-1]][ex_tx]          # exonic bases 5' (genomic) of exon
        self.tx_cdna_len = csum[ex_off[1:]] - csum[ex_off[:-1]]
        after = self.tx_cdna_len[ex_tx] - before - ex_len
        plus_ex = b.tx_strand[ex_tx] > 0
        # cDNA position of an exon's first base in transcript orientation, minus one
        self.ex_cdna_off = np.where(plus_ex, before, after)
        k = np.arange(len(ex_tx), dtype=np.int64) - ex_off[:-1][ex_tx]
        self.ex_number = np.where(plus_ex, k + 1, n_ex[ex_tx] - k)
        self.ex_label = _labels(self.ex_number, n_ex[ex_tx])
        self.ex_key_start = ex_tx * SHIFT + b.ex_start
        self.ex_key_end = ex_tx * SHIFT + b.ex_end

        # ---- introns: between consecutive exons of a transcript
        same = ex_tx[:-1] == ex_tx[1:] if len(ex_tx) else np.zeros(0, bool)
        in_tx = ex_tx[:-1][same]
        self.in_tx = in_tx
        self.in_start = b.ex_end[:-1][same] + 1
        self.in_end = b.ex_start[1:][same] - 1
        self.in_left_exon = np.nonzero(same)[0].astype(np.int64)  # exon 5' (genomic) of the intron
        n_in = np.maximum(n_ex - 1, 0)
        self.n_introns = n_in
        in_off = np.concatenate(([0], np.cumsum(n_in)))
        kin = np.arange(len(in_tx), dtype=np.int64) - in_off[:-1][in_tx]
        self.in_number = np.where(b.tx_strand[in_tx] > 0, kin + 1, n_in[in_tx] - kin)
        self.in_label = _labels(self.in_number, n_in[in_tx])
        self.in_key_start = in_tx * SHIFT + self.in_start
        self.in_key_end = in_tx * SHIFT + self.in_end

        # ---- CDS in cDNA coordinates (transcript orientation), 0 when non-coding
        coding = b.tx_cds_start > 0
        self.coding = coding
        five = np.where(b.tx_strand > 0, b.tx_cds_start, b.tx_cds_end)
        three = np.where(b.tx_strand > 0, b.tx_cds_end, b.tx_cds_start)
        c5, ok5 = self.cdna_of(tx_ids, five)
        c3, ok3 = self.cdna_of(tx_ids, three)
        good = coding & ok5 & ok3
        self.cds_cdna_start = np.where(good, c5, 0)
        self.cds_cdna_end = np.where(good, c3, 0)
        self.cds_len = np.where(good, c3 - c5 + 1, 0)

    # ------------------------------------------------------------------ queries
    def query(self, contig_ids: np.ndarray, starts: np.ndarray,
              ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, transcript index) for every transcript within `flank` of the
        1-based inclusive extent [start, end]; end = start - 1 (an insertion) touches
        bases start - 1 and start. Grouped by query index, ascending."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        ins = ends < starts
        qs = np.where(ins, starts - 1, starts)
        qe = np.where(ins, starts, ends)
        off = np.asarray(contig_ids, dtype=np.int64) * SHIFT
        ids = np.arange(len(starts), dtype=np.int64)
        q, t = self._ncls.all_overlaps_both(off + qs, off + qe + 1, ids)
        return q.astype(np.int64), t.astype(np.int64)

    def exon_range(self, tx: np.ndarray, start: np.ndarray,
                   end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global indices [first, last] of the exons of `tx` with ex_end >= start and
        ex_start <= end (empty when last < first). VEP's overlap test, so an insertion
        (end = start - 1) overlaps only an exon holding both of its flanking bases."""
        base = tx * SHIFT
        first = np.searchsorted(self.ex_key_end, base + start, side="left")
        last = np.searchsorted(self.ex_key_start, base + end, side="right") - 1
        return first, last

    def intron_range(self, tx: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As exon_range, over the introns."""
        base = tx * SHIFT
        first = np.searchsorted(self.in_key_end, base + start, side="left")
        last = np.searchsorted(self.in_key_start, base + end, side="right") - 1
        return first, last

    def cdna_of(self, tx: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cDNA position (1-based, transcript orientation) of genomic `pos`, and whether
        `pos` is exonic at all (the position is 0 where it is not)."""
        b = self.bundle
        tx = np.asarray(tx, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int64)
        i = np.searchsorted(self.ex_key_end, tx * SHIFT + pos, side="left")
        ic = np.minimum(i, max(len(self.ex_tx) - 1, 0))
        if len(self.ex_tx) == 0:
            return np.zeros(len(pos), np.int64), np.zeros(len(pos), bool)
        ok = (i < len(self.ex_tx)) & (self.ex_tx[ic] == tx) & (b.ex_start[ic] <= pos)
        plus = b.tx_strand[tx] > 0
        within = np.where(plus, pos - b.ex_start[ic], b.ex_end[ic] - pos)
        return np.where(ok, self.ex_cdna_off[ic] + within + 1, 0), ok
