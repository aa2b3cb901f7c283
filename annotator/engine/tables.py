"""Arrow tables of one chunk's results: one row per allele x transcript, and one per allele.

The per-allele row is the allele's most severe consequence and the transcript that carries
it (ties: protein-coding first, then the longer CDS, then bundle order), which is what
analysts asked for instead of one row per transcript.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from annotator.engine import so
from annotator.engine.model import Bundle
from annotator.engine.pairs import Pairs
from annotator.engine.variants import Kind, VcfChunk

KIND_NAMES = np.array([k.name for k in Kind], dtype=object)

TRANSCRIPT_SCHEMA = pa.schema([
    ("chrom", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
    ("alt", pa.string()), ("consequence", pa.string()), ("impact", pa.string()),
    ("gene", pa.string()), ("gene_id", pa.string()), ("transcript", pa.string()),
    ("biotype", pa.string()), ("strand", pa.int8()), ("exon", pa.string()), ("intron", pa.string()),
    ("cdna_pos", pa.string()), ("cds_pos", pa.string()), ("protein_pos", pa.string()),
    ("amino_acids", pa.string()), ("codons", pa.string()), ("distance", pa.int64()),
    ("hgvs_c", pa.string()), ("hgvs_p", pa.string()),
])

VARIANT_SCHEMA = pa.schema([
    ("chrom", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
    ("alt", pa.string()), ("variant_type", pa.string()), ("consequence", pa.string()),
    ("impact", pa.string()), ("gene", pa.string()), ("gene_id", pa.string()),
    ("transcript", pa.string()), ("biotype", pa.string()), ("exon", pa.string()),
    ("protein_pos", pa.string()), ("amino_acids", pa.string()), ("hgvs_c", pa.string()),
    ("hgvs_p", pa.string()), ("n_transcripts", pa.int32()), ("line", pa.int64()),
])


def _labels(masks: np.ndarray) -> tuple[list[str], list[str]]:
    """Consequence label and IMPACT per mask; few distinct masks, so label each once."""
    uniq, inv = np.unique(masks, return_inverse=True)
    labels = np.array([so.label(m) for m in uniq.tolist()], dtype=object)
    impacts = np.array([so.impact(m) for m in uniq.tolist()], dtype=object)
    return labels[inv].tolist(), impacts[inv].tolist()


def _tx_column(values: np.ndarray, tx: np.ndarray) -> np.ndarray:
    """values[tx], with '' for intergenic rows (tx == -1)."""
    out = values[np.maximum(tx, 0)]
    if len(tx) and (tx < 0).any():
        out = out.copy()
        out[tx < 0] = ""
    return out


def _allele_ids(chunk: VcfChunk, rsids: np.ndarray | None) -> np.ndarray:
    ids = np.asarray(chunk.ids, dtype=object)[chunk.a_rec]
    if rsids is not None:
        fill = (ids == ".") & (rsids != "")
        ids[fill] = rsids[fill]
    return ids


def select_most_severe(bundle: Bundle, pairs: Pairs) -> np.ndarray:
    """Index into `pairs` of the chosen row for every allele that has rows (sorted by allele)."""
    if len(pairs) == 0:
        return np.empty(0, dtype=np.int64)
    rank = so.most_severe_rank(pairs.mask)
    tx = np.maximum(pairs.tx, 0)
    coding = (bundle.tx_cds_start[tx] > 0) & (pairs.tx >= 0)
    cds_len = np.where(coding, bundle.tx_cds_end[tx] - bundle.tx_cds_start[tx], 0)
    order = np.lexsort((pairs.tx, -cds_len, ~coding, rank, pairs.allele))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pairs.allele[order][1:] != pairs.allele[order][:-1]
    return order[first]


def transcript_table(bundle: Bundle, chunk: VcfChunk, pairs: Pairs, ids: np.ndarray) -> pa.Table:
    a = pairs.allele
    rec = chunk.a_rec[a]
    consequence, impact = _labels(pairs.mask)
    tx = pairs.tx
    strand = np.where(tx >= 0, bundle.tx_strand[np.maximum(tx, 0)], 0).astype(np.int8)
    cols = {
        "chrom": np.asarray(chunk.chrom, dtype=object)[rec],
        "pos": chunk.pos[rec],
        "id": ids[a],
        "ref": np.asarray(chunk.ref, dtype=object)[rec],
        "alt": np.asarray(chunk.a_alt, dtype=object)[a],
        "consequence": consequence, "impact": impact,
        "gene": _tx_column(bundle.gene_name, tx), "gene_id": _tx_column(bundle.gene_id, tx),
        "transcript": _tx_column(bundle.tx_id, tx), "biotype": _tx_column(bundle.biotype, tx),
        "strand": strand, "exon": pairs.exon, "intron": pairs.intron,
        "cdna_pos": pairs.cdna_pos, "cds_pos": pairs.cds_pos, "protein_pos": pairs.protein_pos,
        "amino_acids": pairs.amino_acids, "codons": pairs.codons, "distance": pairs.distance,
        "hgvs_c": pairs.hgvs_c, "hgvs_p": pairs.hgvs_p,
    }
    return pa.Table.from_pydict(cols, schema=TRANSCRIPT_SCHEMA)


def variant_table(bundle: Bundle, chunk: VcfChunk, pairs: Pairs, ids: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """One row per alternate allele of the chunk; returns the table and each allele's mask."""
    n = chunk.n_alleles
    chosen = select_most_severe(bundle, pairs)
    row_of = np.full(n, -1, dtype=np.int64)           # chosen pair per allele, -1 = none
    row_of[pairs.allele[chosen]] = chosen
    has = row_of >= 0
    safe = np.maximum(row_of, 0)
    n_tx = np.bincount(pairs.allele[pairs.tx >= 0], minlength=n).astype(np.int32) if len(pairs) else np.zeros(n, np.int32)

    def pick(col: np.ndarray) -> np.ndarray:
        if len(pairs) == 0:
            return np.full(n, "", dtype=object)
        out = col[safe]
        out[~has] = ""
        return out

    tx = np.where(has, pairs.tx[safe] if len(pairs) else -1, -1)
    masks = np.where(has, pairs.mask[safe] if len(pairs) else 0, 0).astype(np.uint64)
    consequence, impact = _labels(masks)
    rec = chunk.a_rec
    cols = {
        "chrom": np.asarray(chunk.chrom, dtype=object)[rec], "pos": chunk.pos[rec], "id": ids,
        "ref": np.asarray(chunk.ref, dtype=object)[rec], "alt": chunk.a_alt,
        "variant_type": KIND_NAMES[chunk.a_kind],
        "consequence": consequence, "impact": impact,
        "gene": _tx_column(bundle.gene_name, tx), "gene_id": _tx_column(bundle.gene_id, tx),
        "transcript": _tx_column(bundle.tx_id, tx), "biotype": _tx_column(bundle.biotype, tx),
        "exon": pick(pairs.exon), "protein_pos": pick(pairs.protein_pos),
        "amino_acids": pick(pairs.amino_acids), "hgvs_c": pick(pairs.hgvs_c), "hgvs_p": pick(pairs.hgvs_p),
        "n_transcripts": n_tx, "line": chunk.line_no[rec],
    }
    return pa.Table.from_pydict(cols, schema=VARIANT_SCHEMA), masks


def allele_ids(chunk: VcfChunk, rsids: np.ndarray | None) -> np.ndarray:
    """The ID reported per allele: the input's, or the dbSNP rsID when the input has '.'."""
    return _allele_ids(chunk, rsids)
