"""The per-allele choice of the row that NAME.parquet reports."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from annotator.engine import so
from annotator.engine.tables import select_most_severe

TERMS = [so.BIT[t] for t in ("missense_variant", "synonymous_variant", "intron_variant",
                             "upstream_gene_variant", "stop_gained", "intergenic_variant")]


class _Pairs(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.allele)


def _expected(bundle, pairs) -> list[int]:
    """The rule as written: most severe term, then protein-coding, then the longer CDS, then
    bundle order (intergenic rows, tx -1, first)."""
    best = {}
    for i, (a, t, m) in enumerate(zip(pairs.allele.tolist(), pairs.tx.tolist(), pairs.mask.tolist())):
        coding = t >= 0 and bundle.tx_cds_start[t] > 0
        cds = bundle.tx_cds_end[t] - bundle.tx_cds_start[t] if coding else 0
        key = (int(so.most_severe_rank(np.array([m], np.uint64))[0]), not coding, -cds, t)
        if a not in best or key < best[a][0]:
            best[a] = (key, i)
    return [best[a][1] for a in sorted(best)]


@pytest.mark.parametrize("seed", range(25))
def test_choice_follows_severity_then_coding_then_cds_length_then_bundle_order(seed):
    rng = np.random.default_rng(seed)
    n_tx = 12
    start = np.where(rng.random(n_tx) < 0.6, rng.integers(1, 1000, n_tx), 0)
    bundle = SimpleNamespace(tx_cds_start=start, tx_cds_end=np.where(start > 0, start + rng.choice([30, 90, 300], n_tx), 0))
    rows = []
    for a in range(int(rng.integers(1, 40))):
        if rng.random() < 0.2:
            continue                      # an allele without rows
        txs = sorted(rng.choice(np.arange(-1, n_tx), size=int(rng.integers(1, 6)), replace=False).tolist())
        rows += [(a, t, int(rng.choice(TERMS)) | (int(rng.choice(TERMS)) if rng.random() < 0.3 else 0)) for t in txs]
    allele, tx, mask = (np.array(c, dtype=d) for c, d in zip(zip(*rows), (np.int64, np.int64, np.uint64))) \
        if rows else (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64))
    pairs = _Pairs(allele=allele, tx=tx, mask=mask)
    assert select_most_severe(bundle, pairs).tolist() == _expected(bundle, pairs)


def test_equal_terms_prefer_the_coding_transcript_with_the_longer_cds():
    bundle = SimpleNamespace(tx_cds_start=np.array([0, 100, 100]), tx_cds_end=np.array([0, 190, 400]))
    m = so.BIT["intron_variant"]
    pairs = _Pairs(allele=np.array([0, 0, 0]), tx=np.array([0, 1, 2]), mask=np.array([m, m, m], np.uint64))
    assert select_most_severe(bundle, pairs).tolist() == [2]


def test_known_rsids_replace_only_missing_ids():
    """An allele found in dbSNP gets its rsID where the input has '.', and keeps an input ID."""
    from tiny_models import make_chunk

    from annotator.engine.tables import ChunkColumns
    chunk = make_chunk([("1", 100, "C", "T,G"), ("1", 200, "A", "G"), ("1", 300, "G", "A")])
    chunk.ids = [".", "mine", "."]
    rsids = (np.array([1, 2, 3]), np.array(["rs2", "rs7", "rs9"], dtype=object))   # alleles 1, 2, 3
    cols = ChunkColumns.of(chunk, rsids)
    assert cols.ids.to_pylist() == [".", "rs2", "mine", "rs9"] and cols.rsids_filled == 2
    none = ChunkColumns.of(chunk, None)
    assert none.ids.to_pylist() == [".", ".", "mine", "."] and none.rsids_filled == 0
