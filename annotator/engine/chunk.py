"""One chunk in, its finished outputs out: the unit of work a worker process runs.

Everything a chunk needs is either in the arguments (small, pickled per chunk) or loaded once
per process (`load_model`: bundle, index, Arrow columns). The FASTA is opened per process: a
file handle shared between processes would race on its offset.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from annotator.engine import csq, so
from annotator.engine.bundle import load_bundle, lookup_rsids
from annotator.engine.consequence import annotate_chunk
from annotator.engine.derived import load_derived
from annotator.engine.factorize import factorize
from annotator.engine.fasta import Reference
from annotator.engine.model import Bundle
from annotator.engine.overlap import TranscriptIndex
from annotator.engine.pairs import Pairs
from annotator.engine.prep import chrom_codes, line_array, vep_alleles
from annotator.engine.summary import Summary
from annotator.engine.tables import (
    BundleColumns,
    ChunkColumns,
    consequence_impact,
    transcript_table,
    variant_table,
)
from annotator.engine.variants import VcfChunk

_NEARBY = so.BIT["upstream_gene_variant"] | so.BIT["downstream_gene_variant"] | so.BIT["intergenic_variant"]
_GENIC = np.uint64(((1 << len(so.NAMES)) - 1) & ~_NEARBY)   # a gene counts as hit when the allele is inside it


@dataclass(frozen=True)
class Model:
    bundle: Bundle
    index: TranscriptIndex
    columns: BundleColumns
    meta: dict


@lru_cache(maxsize=4)
def load_model(bundle_path: str) -> Model:
    """Loaded once per process: the service's worker annotates many jobs with the same bundle."""
    bundle = load_bundle(Path(bundle_path))
    meta = json.loads((Path(bundle_path) / "meta.json").read_text())
    index, columns = load_derived(Path(bundle_path), bundle)
    return Model(bundle, index, columns, meta)


_references: dict[tuple[int, str], Reference] = {}


def reference_for(fasta: str | None) -> Reference | None:
    """The FASTA opened in this process (never a handle inherited across fork)."""
    if not fasta:
        return None
    key = (os.getpid(), fasta)
    if key not in _references:
        _references[key] = Reference.open(Path(fasta))
    return _references[key]


@dataclass
class ChunkResult:
    transcripts: pa.Table
    variants: pa.Table
    vcf: csq.AnnotatedLines     # render() on the writer thread: see AnnotatedLines
    stats: Summary


@dataclass(frozen=True)
class ChunkAnnotator:
    """Picklable description of the run; calling it annotates one chunk."""
    bundle_path: str
    fasta: str | None
    drop_existing_csq: bool
    sites_only: bool

    def __call__(self, chunk: VcfChunk) -> ChunkResult:
        m = load_model(self.bundle_path)
        bundle = m.bundle
        codes, names = chrom_codes(chunk)
        cids = np.array([bundle.contig_id(c) for c in names], dtype=np.int32)[codes]
        rsids = lookup_rsids(bundle, cids[chunk.a_rec], chunk.pos[chunk.a_rec], chunk.ref, chunk.a_alt,
                             ref_of=chunk.a_rec)
        pairs = order_pairs(annotate_chunk(bundle, m.index, chunk, reference_for(self.fasta)))
        strand = np.where(pairs.tx >= 0, bundle.tx_strand[np.maximum(pairs.tx, 0)], 0).astype(np.int8)
        cols = ChunkColumns.of(chunk, rsids)
        pair_masks = factorize(pairs.mask)     # few distinct masks: hashing, not np.unique's sort
        ttable = transcript_table(m.columns, chunk, cols, pairs, strand, pair_masks)
        vtable, masks, chosen_tx = variant_table(bundle, m.columns, chunk, cols, pairs, ttable)
        vcf = csq.AnnotatedLines(ttable, vep_alleles(chunk), pairs.allele, chunk.a_rec[pairs.allele], strand,
                                 m.columns.csq_transcript(pairs.tx), consequence_impact(*pair_masks),
                                 cols.ids, m.columns.ids_clean, line_array(chunk),
                                 self.drop_existing_csq, self.sites_only)
        stats = Summary()
        genes_hit = bundle.gene_name[chosen_tx[((masks & _GENIC) != 0) & (chosen_tx >= 0)]]
        stats.add(chunk, masks, genes_hit, pair_masks, cids < 0, cols.rsids_filled)
        return ChunkResult(ttable, vtable, vcf, stats)


def order_pairs(pairs: Pairs) -> Pairs:
    """Rows grouped by allele (hence by record), transcripts in bundle order within an allele."""
    a, t = pairs.allele, pairs.tx
    if len(a) < 2 or bool(np.all((a[1:] > a[:-1]) | ((a[1:] == a[:-1]) & (t[1:] >= t[:-1])))):
        return pairs        # annotate_chunk already returns them so
    return pairs.take(np.lexsort((t, a)))
