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

from .model import CDS_END_COMPLETE, CDS_START_COMPLETE, Bundle
from .sortedsearch import searchsorted

SHIFT = np.int64(1 << 32)
I32 = np.int32      # positions, counts and row numbers (contig positions fit); keys stay int64


class TranscriptIndex:
    """Overlap queries (transcript +/- flank) and exon/intron/cDNA lookup tables.

    Exon and intron labels ("3/10") are not stored (two million strings would be most of
    the index's memory): `exon_labels` / `intron_labels` format them for output rows only.
    """

    # The arrays a built index consists of (besides the NCLS, rebuilt in ~30 ms): derived.py
    # saves them so that a new process maps them instead of computing them again.
    SAVED = ("n_exons", "ex_tx", "tx_cdna_len", "ex_cdna_off", "ex_key_start", "ex_key_end", "in_tx",
             "in_start", "in_end", "in_left_exon", "n_introns", "in_off", "in_key_start", "in_key_end",
             "coding", "cds_cdna_start", "cds_cdna_end", "cds_len", "cds_pad")

    def __init__(self, bundle: Bundle, flank: int = 5000, saved: dict[str, np.ndarray] | None = None) -> None:
        self.bundle = bundle
        self.flank = int(flank)
        b = bundle
        n_tx = b.n_transcripts
        tx_ids = np.arange(n_tx, dtype=np.int64)
        off = b.tx_contig.astype(np.int64) * SHIFT
        # (NCLS misbehaves with negative coordinates: clip at 0, positions are >= 1 anyway)
        self._ncls = NCLS(off + np.maximum(b.tx_start - self.flank, 0), off + b.tx_end + self.flank + 1, tx_ids)
        self._labels = np.zeros(0, dtype=object)     # label cache, see _label
        self._have = np.zeros(0, dtype=bool)
        self._cdna_key: np.ndarray | None = None     # see genomic_of
        self._cdna_exon: np.ndarray | None = None
        if saved is not None:
            for name in self.SAVED:
                setattr(self, name, saved[name])
            self._label_base = int(max(self.n_exons.max(initial=0), 1)) + 1
            return

        # ---- exons
        ex_off = b.tx_exon_off.astype(np.int64)
        n_ex = np.diff(ex_off)
        self.n_exons = n_ex.astype(I32)
        ex_tx = np.repeat(tx_ids, n_ex)
        self.ex_tx = ex_tx.astype(I32)
        ex_len = b.ex_end - b.ex_start + 1
        csum = np.concatenate(([0], np.cumsum(ex_len)))
        before = csum[:-1] - csum[ex_off[:-1]][ex_tx]          # exonic bases 5' (genomic) of exon
        self.tx_cdna_len = csum[ex_off[1:]] - csum[ex_off[:-1]]
        after = self.tx_cdna_len[ex_tx] - before - ex_len
        plus_ex = b.tx_strand[ex_tx] > 0
        # cDNA position of an exon's first base in transcript orientation, minus one
        self.ex_cdna_off = np.where(plus_ex, before, after).astype(I32)
        self.ex_key_start = ex_tx * SHIFT + b.ex_start
        self.ex_key_end = ex_tx * SHIFT + b.ex_end
        del before, after, plus_ex, csum, ex_len

        # ---- introns: between consecutive exons of a transcript
        same = ex_tx[:-1] == ex_tx[1:] if len(ex_tx) else np.zeros(0, bool)
        in_tx = ex_tx[:-1][same]
        self.in_tx = in_tx.astype(I32)
        self.in_start = (b.ex_end[:-1][same] + 1).astype(I32)
        self.in_end = (b.ex_start[1:][same] - 1).astype(I32)
        self.in_left_exon = np.flatnonzero(same).astype(I32)  # exon 5' (genomic) of the intron
        n_in = np.maximum(n_ex - 1, 0)
        self.n_introns = n_in.astype(I32)
        self.in_off = np.concatenate(([0], np.cumsum(n_in)))    # introns of tx i: [in_off[i], in_off[i+1])
        self.in_key_start = in_tx * SHIFT + self.in_start
        self.in_key_end = in_tx * SHIFT + self.in_end
        del ex_tx, in_tx, same
        self._label_base = int(max(n_ex.max(initial=0), 1)) + 1

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
        # Reading frame of a CDS with an incomplete 5' end (cds_start_NF): the sources give no
        # start phase, but when the stop codon is annotated the frame is fixed from the 3' end,
        # so the first cds_len % 3 bases are the tail of a codon. cds_pad is the number of
        # virtual bases before the first CDS base (Ensembl's start phase / N padding), 0 else.
        # Codons, amino acids and protein positions are counted in the padded frame; CDS
        # positions (cds_pos, c.) are not (Ensembl's genomic2cds vs genomic2pep).
        pad = (3 - self.cds_len % 3) % 3
        self.cds_pad = np.where(good & ((b.tx_flags & CDS_START_COMPLETE) == 0)
                                & ((b.tx_flags & CDS_END_COMPLETE) != 0), pad, 0).astype(np.int64)

    # ------------------------------------------------------------------ queries
    def query(self, contig_ids: np.ndarray, starts: np.ndarray,
              ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, transcript index) for every transcript within `flank` of the
        1-based inclusive extent [start, end]; end = start - 1 (an insertion) touches
        bases start - 1 and start. Ordered by query index, then transcript index."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        ins = ends < starts
        qs = np.where(ins, starts - 1, starts)
        qe = np.where(ins, starts, ends)
        off = np.asarray(contig_ids, dtype=np.int64) * SHIFT
        ids = np.arange(len(starts), dtype=np.int64)
        q, t = self._ncls.all_overlaps_both(off + qs, off + qe + 1, ids)
        q, t = q.astype(np.int64), t.astype(np.int64)
        # the containment lists give a query's transcripts in their own order: sorted here, the
        # pairs are in output order from the start (their columns then need no reordering)
        key = q * max(self.bundle.n_transcripts, 1) + t
        if len(key) > 1 and not bool((key[1:] > key[:-1]).all()):
            order = np.argsort(key, kind="stable")
            q, t = q[order], t[order]
        return q, t

    def exon_range(self, tx: np.ndarray, start: np.ndarray,
                   end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global indices [first, last] of the exons of `tx` with ex_end >= start and
        ex_start <= end (empty when last < first). VEP's overlap test, so an insertion
        (end = start - 1) overlaps only an exon holding both of its flanking bases."""
        base = tx * SHIFT
        first = searchsorted(self.ex_key_end, base + start, side="left")
        last = searchsorted(self.ex_key_start, base + end, side="right") - 1
        return first, last

    def intron_range(self, tx: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As exon_range, over the introns."""
        base = tx * SHIFT
        first = searchsorted(self.in_key_end, base + start, side="left")
        last = searchsorted(self.in_key_start, base + end, side="right") - 1
        return first, last

    def intron_range_inside(self, tx: np.ndarray, start: np.ndarray, end: np.ndarray,
                            first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """intron_range(tx, start, end) from (first, last) = intron_range of a window holding
        [start, end]: the narrower range lies inside, a few introns in from either end at most,
        so stepping in costs less than two more binary searches over all introns."""
        n = len(self.in_key_end)
        base = tx * SHIFT
        first, last = first.copy(), last.copy()
        while len(step := np.flatnonzero((first < n) & (self.in_key_end[np.minimum(first, n - 1)] < base + start))):
            first[step] += 1
        while len(step := np.flatnonzero((last >= 0) & (self.in_key_start[np.maximum(last, 0)] > base + end))):
            last[step] -= 1
        return first, last

    def cdna_of(self, tx: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cDNA position (1-based, transcript orientation) of genomic `pos`, and whether
        `pos` is exonic at all (the position is 0 where it is not)."""
        b = self.bundle
        tx = np.asarray(tx, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int64)
        i = searchsorted(self.ex_key_end, tx * SHIFT + pos, side="left")
        ic = np.minimum(i, max(len(self.ex_tx) - 1, 0))
        if len(self.ex_tx) == 0:
            return np.zeros(len(pos), np.int64), np.zeros(len(pos), bool)
        ok = (i < len(self.ex_tx)) & (self.ex_tx[ic] == tx) & (b.ex_start[ic] <= pos)
        plus = b.tx_strand[tx] > 0
        within = np.where(plus, pos - b.ex_start[ic], b.ex_end[ic] - pos)
        return np.where(ok, self.ex_cdna_off[ic] + within + 1, 0), ok

    def _cdna_table(self) -> None:
        """Exons sorted by (transcript, cDNA offset), built on first use (only codon
        effects need it): `_cdna_exon` lists exon rows in transcript order, so reversed
        within a transcript on strand -1."""
        if self._cdna_key is not None:
            return
        b = self.bundle
        ex_off = b.tx_exon_off.astype(np.int64)
        i = np.arange(len(self.ex_tx), dtype=np.int64)
        t = self.ex_tx
        perm = np.where(b.tx_strand[t] > 0, i, ex_off[t] + ex_off[t + 1] - 1 - i).astype(I32)
        self._cdna_exon = perm
        self._cdna_key = t * SHIFT + self.ex_cdna_off[perm]

    def genomic_of(self, tx: np.ndarray, cdna: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Genomic position of cDNA position `cdna` (1-based, transcript orientation) of
        `tx`, and whether there is one (the position is 0 where there is not)."""
        b = self.bundle
        self._cdna_table()
        tx = np.asarray(tx, dtype=np.int64)
        cdna = np.asarray(cdna, dtype=np.int64)
        if len(self.ex_tx) == 0:
            return np.zeros(len(tx), np.int64), np.zeros(len(tx), bool)
        k = searchsorted(self._cdna_key, tx * SHIFT + cdna - 1, side="right") - 1
        e = self._cdna_exon[np.maximum(k, 0)]
        within = cdna - 1 - self.ex_cdna_off[e]
        ok = (k >= 0) & (self.ex_tx[e] == tx) & (cdna >= 1) & (within <= b.ex_end[e] - b.ex_start[e])
        g = np.where(b.tx_strand[tx] > 0, b.ex_start[e] + within, b.ex_end[e] - within)
        return np.where(ok, g, 0), ok

    # ------------------------------------------------------------------ labels
    def exon_number(self, e: np.ndarray) -> np.ndarray:
        """Exon number (transcript direction, 1-based) of global exon rows `e`."""
        b = self.bundle
        t = self.ex_tx[e]
        k = e - b.tx_exon_off[t]
        return np.where(b.tx_strand[t] > 0, k + 1, self.n_exons[t] - k)

    def intron_number(self, i: np.ndarray) -> np.ndarray:
        """Intron number (transcript direction, 1-based) of global intron rows `i`."""
        t = self.in_tx[i]
        k = i - self.in_off[t]
        return np.where(self.bundle.tx_strand[t] > 0, k + 1, self.n_introns[t] - k)

    def exon_labels(self, e: np.ndarray) -> np.ndarray:
        """'number/count' of exon rows `e` (object array)."""
        return self._label(self.exon_number(e), self.n_exons[self.ex_tx[e]])

    def intron_labels(self, i: np.ndarray) -> np.ndarray:
        """'number/count' of intron rows `i` (object array)."""
        return self._label(self.intron_number(i), self.n_introns[self.in_tx[i]])

    def _label(self, num: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Labels from a cache indexed by num * base + total: only a few thousand distinct
        (number, count) pairs occur, so each string is made once per index."""
        key = num.astype(np.int64) * self._label_base + total
        if not len(key):
            return np.empty(0, dtype=object)
        top = int(key.max()) + 1
        if top > len(self._labels):
            self._labels = np.concatenate([self._labels, np.zeros(top - len(self._labels), dtype=object)])
            self._have = np.concatenate([self._have, np.zeros(top - len(self._have), dtype=bool)])
        want = np.zeros(len(self._labels), bool)
        want[key] = True
        new = np.flatnonzero(want & ~self._have)
        if len(new):
            self._labels[new] = [f"{k // self._label_base}/{k % self._label_base}" for k in new.tolist()]
            self._have[new] = True
        return self._labels[key]

