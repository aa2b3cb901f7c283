"""TranscriptIndex range queries."""
from __future__ import annotations

import numpy as np
from tiny_models import Tx, make_bundle

from annotator.engine.overlap import TranscriptIndex


def test_intron_range_inside_a_wider_window_equals_the_direct_search():
    """Tiny introns and exons (1-2 bases) packed near each other are where stepping in from
    the wider window's ends must go more than one intron."""
    txs = [Tx("A", "1", 1, [(100, 110), (112, 112), (114, 115), (118, 130), (200, 210)]),
           Tx("B", "1", -1, [(105, 106), (108, 108), (110, 120)]),
           Tx("C", "2", 1, [(10, 20), (22, 22), (24, 40)]),
           Tx("D", "2", 1, [(30, 60)])]           # no introns
    index = TranscriptIndex(make_bundle(txs))
    rng = np.random.default_rng(7)
    n = 4000
    tx = rng.integers(0, 4, n)
    start = rng.integers(95, 215, n)
    end = start + rng.integers(-1, 6, n)          # end = start - 1: an insertion
    w0, w1 = index.intron_range(tx, start - 3, end + 3)
    got = index.intron_range_inside(tx, start, end, w0, w1)
    want = index.intron_range(tx, start, end)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert (want[1] - want[0] >= 0).sum() > 500 and (w1 - w0 > want[1] - want[0]).sum() > 100


def test_query_gives_every_overlap_ordered_by_query_then_transcript():
    """annotate_chunk places the pairs' columns without reordering them: it relies on this order."""
    rng = np.random.default_rng(11)
    # transcripts nested in later ones of the same start, as in the bundle (the containment
    # lists return the container first), and random others
    txs = [Tx(f"N{g}{k}", "1", 1, [(1000 + 500 * g, 1100 + 500 * g + 40 * k)]) for g in range(4) for k in range(3)]
    txs += [Tx(f"T{i}", "1", 1 if i % 2 else -1, [(s, s + int(rng.integers(5, 400)))])
            for i, s in enumerate(rng.integers(1000, 3000, 30).tolist())]
    index = TranscriptIndex(make_bundle(txs), flank=50)
    b = index.bundle
    n = 500
    start = rng.integers(900, 3500, n)
    end = start + rng.integers(-1, 30, n)
    q, t = index.query(np.zeros(n, np.int64), start, end)
    key = q * b.n_transcripts + t
    assert (np.diff(key) > 0).all()
    lo, hi = np.where(end < start, start - 1, start), np.where(end < start, start, end)
    want = {(i, j) for i in range(n) for j in range(b.n_transcripts)
            if lo[i] <= b.tx_end[j] + 50 and hi[i] >= b.tx_start[j] - 50}
    assert set(zip(q.tolist(), t.tolist())) == want and len(want) > 1000
