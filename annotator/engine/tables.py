"""Arrow tables of one chunk's results: one row per allele x transcript, and one per allele.

The per-allele row is the allele's most severe consequence and the transcript that carries
it (ties: protein-coding first, then the longer CDS, then bundle order), which is what
analysts asked for instead of one row per transcript.

Columns are assembled with Arrow `take` over small value arrays (per record, per allele,
per transcript of the bundle, per distinct mask) instead of converting millions of Python
objects: that conversion alone used to cost more than the consequence calculation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotator.engine import so
from annotator.engine.arrow import (
    EMPTY,
    int_values,
    ints,
    scalar,
    strings,
    take_strings,
)
from annotator.engine.csq import escape, needs_escape
from annotator.engine.factorize import factorize
from annotator.engine.model import Bundle
from annotator.engine.pairs import Pairs
from annotator.engine.prep import chrom_codes, record_columns
from annotator.engine.variants import Kind, VcfChunk

KIND_NAMES = strings([k.name for k in Kind])

# Columns written as Arrow dictionaries built per chunk from values the chunk already has in
# coded form (transcript index, consequence mask, CHROM code, allele kind): the Parquet writer
# then writes their dictionary pages as they are instead of hashing every string.
DICTIONARY = pa.dictionary(pa.int32(), pa.string())
CODED = ("chrom", "consequence", "impact", "gene", "gene_id", "transcript", "biotype", "variant_type")


def _schema(fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """Every column non-nullable: Parquet then writes no definition levels (the writer rejects a
    null, so one cannot slip through)."""
    return pa.schema([pa.field(name, DICTIONARY if name in CODED else t, nullable=False) for name, t in fields])


S = pa.string()
TRANSCRIPT_SCHEMA = _schema([
    ("chrom", S), ("pos", pa.int64()), ("id", S), ("ref", S), ("alt", S), ("consequence", S), ("impact", S),
    ("gene", S), ("gene_id", S), ("transcript", S), ("biotype", S), ("strand", pa.int8()), ("exon", S),
    ("intron", S), ("cdna_pos", S), ("cds_pos", S), ("protein_pos", S), ("amino_acids", S), ("codons", S),
    ("distance", pa.int64()), ("hgvs_c", S), ("hgvs_p", S),
])

VARIANT_SCHEMA = _schema([
    ("chrom", S), ("pos", pa.int64()), ("id", S), ("ref", S), ("alt", S), ("variant_type", S),
    ("consequence", S), ("impact", S), ("gene", S), ("gene_id", S), ("transcript", S), ("biotype", S),
    ("exon", S), ("protein_pos", S), ("amino_acids", S), ("hgvs_c", S), ("hgvs_p", S),
    ("n_transcripts", pa.int32()), ("line", pa.int64()),
])

# Parquet encoding: dictionaries only where values repeat a lot (the others cost time for nothing),
# statistics on the columns people filter row groups by. The Arrow schema is not stored, so
# readers get plain string columns (not pandas categoricals) from the dictionary-encoded pages.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["chrom", "consequence", "impact", "gene", "gene_id", "transcript", "biotype",
                       "variant_type", "exon", "intron", "amino_acids", "codons"],
    "write_statistics": ["chrom", "pos"],
    "store_schema": False,
    # ascending within a chunk: deltas (the variant table's pos 0.022 -> 0.009 s and line
    # 0.021 -> 0.006 s to write per 1M records; line's pages shrink from 1 MB to 5 KB)
    "column_encoding": {"pos": "DELTA_BINARY_PACKED", "line": "DELTA_BINARY_PACKED"},
}

# Pairs' string columns, in the order the transcript table wants them.
PAIR_STRINGS = ("exon", "intron", "cdna_pos", "cds_pos", "protein_pos", "amino_acids", "codons", "hgvs_c", "hgvs_p")
BUNDLE_STRINGS = {"gene": "gene_name", "gene_id": "gene_id", "transcript": "tx_id", "biotype": "biotype"}


class BundleColumns:
    """The bundle's string columns as Arrow arrays with a trailing '' (index -1 = intergenic),
    each dictionary-encoded over its distinct values (what `coded` needs)."""

    def __init__(self, bundle: Bundle, saved: pa.Table | None = None) -> None:
        """`saved`: a table from `to_table()` of the same bundle (derived.py), used instead of
        converting the bundle's strings again. Saved with their dictionaries: encoding the four
        columns took ~90 ms per process, a third of a small job's annotation."""
        self.n = bundle.n_transcripts
        self._strand = np.append(bundle.tx_strand, 0)
        if saved is not None:
            self.arrays = {out: saved.column(out).chunk(0) for out in BUNDLE_STRINGS}
            self._csq_tx: pa.Array | None = saved.column("csq_transcript").chunk(0)
        else:
            self.arrays = {out: strings(np.append(getattr(bundle, attr), "").tolist()).dictionary_encode()
                           for out, attr in BUNDLE_STRINGS.items()}
            self._csq_tx = None
        # distinct transcript ids: then HGVS strings need no escaping
        self.ids_clean = not needs_escape(self.arrays["transcript"].dictionary)
        self._value_of = {out: int_values(a.indices) for out, a in self.arrays.items()}

    def to_table(self) -> pa.Table:
        """Everything built from the bundle's strings, csq_transcript's run included."""
        self.csq_transcript(np.zeros(0, np.int64))
        return pa.table({**self.arrays, "csq_transcript": self._csq_tx})

    def coded(self, tx: np.ndarray) -> dict[str, pa.DictionaryArray]:
        """gene, gene_id, transcript and biotype of transcripts `tx` (-1: none, ''), each as a
        dictionary of its distinct values among those transcripts (distinct: the Parquet writer
        hashes a dictionary with repeated values again, at twice the cost)."""
        codes, present = factorize(np.where(tx >= 0, tx, self.n))
        out = {}
        for column, encoded in self.arrays.items():
            local, used = factorize(self._value_of[column][present])
            out[column] = pa.DictionaryArray.from_arrays(ints(local[codes]), encoded.dictionary.take(ints(used)))
        return out

    def csq_transcript(self, tx: np.ndarray) -> pa.Array:
        """CSQ's per-transcript run 'SYMBOL|Gene|Feature_type|Feature|BIOTYPE', percent-encoded,
        joined once per transcript of the bundle ('||||' for intergenic rows)."""
        if self._csq_tx is None:
            esc = {c: escape(self.arrays[c].dictionary_decode()) for c in ("gene", "gene_id", "transcript", "biotype")}
            feature_type = strings(np.where(self._strand != 0, "Transcript", "").tolist())
            self._csq_tx = pc.binary_join_element_wise(esc["gene"], esc["gene_id"], feature_type,
                                                       esc["transcript"], esc["biotype"], scalar("|"))
        return self._csq_tx.take(ints(np.where(tx >= 0, tx, self.n)))


def consequence_impact(inv: np.ndarray, uniq: np.ndarray) -> pa.Array:
    """CSQ's 'Consequence|IMPACT' per mask, joined once per distinct mask. Masks come
    factorized (`factorize(masks)`): a chunk's pair masks serve three consumers."""
    labels = strings([f"{so.label(m)}|{so.impact(m)}" for m in uniq.tolist()])
    return labels.take(ints(inv))


def consequence_columns(inv: np.ndarray, uniq: np.ndarray) -> tuple[pa.DictionaryArray, pa.DictionaryArray]:
    """Consequence label and IMPACT per mask of factorized masks (`inv` codes into the distinct
    `uniq`); there are few distinct masks, so each is labelled once."""
    labels = strings([so.label(m) for m in uniq.tolist()])
    impact_of, impacts = factorize(np.array([so.impact(m) for m in uniq.tolist()], dtype=object))
    return (pa.DictionaryArray.from_arrays(ints(inv), labels),
            pa.DictionaryArray.from_arrays(ints(impact_of[inv]), strings(impacts.tolist())))


@dataclass
class ChunkColumns:
    """Per-record and per-allele values of a chunk, as Arrow arrays to `take` from."""
    chrom_code: pa.Array    # int32 per record, into chrom_names
    chrom_names: pa.Array
    pos: pa.Array
    ref: pa.Array
    alt: pa.Array
    ids: pa.Array       # per allele: the input's ID, or the dbSNP rsID when the input has '.'
    line: pa.Array
    rsids_filled: int   # alleles whose '.' ID was filled from dbSNP

    @classmethod
    def of(cls, chunk: VcfChunk, rsids: tuple[np.ndarray, np.ndarray] | None) -> "ChunkColumns":
        """`rsids`: the alleles with a known rsID and their IDs (bundle.lookup_rsids); they
        replace an ID of '.'."""
        pos, ref, alt, line, rec_ids = record_columns(chunk)
        ids = rec_ids.take(ints(chunk.a_rec))
        rows, found = rsids if rsids is not None else (np.zeros(0, np.int64), np.zeros(0, dtype=object))
        fill = np.array([i == "." for i in take_strings(chunk.ids, chunk.a_rec[rows])], bool)   # the few hits only
        if fill.any():
            filled = np.asarray(ids.to_pylist(), dtype=object)
            filled[rows[fill]] = found[fill]
            ids = strings(filled.tolist())
        codes, names = chrom_codes(chunk)
        return cls(ints(codes, np.int32), strings(names), pos, ref, alt,
                   ids, line, int(fill.sum()))

    def chrom(self, rec: pa.Array) -> pa.DictionaryArray:
        """CHROM of records `rec`."""
        return pa.DictionaryArray.from_arrays(self.chrom_code.take(rec), self.chrom_names)


def select_most_severe(bundle: Bundle, pairs: Pairs) -> np.ndarray:
    """Index into `pairs` of the chosen row for every allele that has rows (sorted by allele):
    the most severe term, then protein-coding, then the longer CDS, then bundle order.

    `pairs` are grouped by allele with transcripts in bundle order (chunk.order_pairs), so the
    choice is a minimum per group of one packed key (rank, non-coding, -CDS length, row),
    which costs a pass instead of a five-key sort."""
    n = len(pairs)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rank = so.most_severe_rank(pairs.mask).astype(np.int64)
    tx = np.maximum(pairs.tx, 0)
    coding = (bundle.tx_cds_start[tx] > 0) & (pairs.tx >= 0)
    cds_len = np.where(coding, bundle.tx_cds_end[tx] - bundle.tx_cds_start[tx], 0)
    row_bits = max(int(n - 1).bit_length(), 1)
    key = ((rank << 1 | ~coding) << _CDS_BITS | (_CDS_MAX - np.minimum(cds_len, _CDS_MAX))) << row_bits
    key |= np.arange(n, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], pairs.allele[1:] != pairs.allele[:-1])))
    return np.minimum.reduceat(key, starts) & ((1 << row_bits) - 1)


_CDS_BITS = 27                     # CDS lengths up to 134 Mb (the longest human CDS is ~108 kb)
_CDS_MAX = (1 << _CDS_BITS) - 1


def transcript_table(bcols: BundleColumns, chunk: VcfChunk, cols: ChunkColumns, pairs: Pairs,
                     strand: np.ndarray, pair_masks: tuple[np.ndarray, np.ndarray]) -> pa.Table:
    """`pair_masks`: factorize(pairs.mask)."""
    a = ints(pairs.allele)
    rec = ints(chunk.a_rec[pairs.allele])
    consequence, impact = consequence_columns(*pair_masks)
    data = {
        "chrom": cols.chrom(rec), "pos": cols.pos.take(rec), "id": cols.ids.take(a),
        "ref": cols.ref.take(rec), "alt": cols.alt.take(a),
        "consequence": consequence, "impact": impact,
        **bcols.coded(pairs.tx),
        "strand": ints(strand, np.int8),
        "distance": ints(pairs.distance, np.int64),
        **{c: getattr(pairs, c) for c in PAIR_STRINGS},
    }
    return pa.Table.from_pydict({f.name: data[f.name] for f in TRANSCRIPT_SCHEMA}, schema=TRANSCRIPT_SCHEMA)


def variant_table(bundle: Bundle, bcols: BundleColumns, chunk: VcfChunk, cols: ChunkColumns, pairs: Pairs,
                  ttable: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """One row per alternate allele; returns the table, each allele's mask and its chosen tx."""
    n = chunk.n_alleles
    chosen = select_most_severe(bundle, pairs)
    row_of = np.full(n, len(pairs), dtype=np.int64)   # chosen pair per allele; len(pairs) = none
    row_of[pairs.allele[chosen]] = chosen
    masks = np.append(pairs.mask, np.uint64(0)).astype(np.uint64)[row_of]
    tx = np.append(pairs.tx, -1)[row_of]
    n_tx = np.bincount(pairs.allele[pairs.tx >= 0], minlength=n).astype(np.int32)
    picked = row_of < len(pairs)
    pick = ints(np.where(picked, row_of, 0), np.int64, valid=picked)

    def from_pairs(name: str) -> pa.Array:
        return ttable.column(name).combine_chunks().take(pick).fill_null(EMPTY)

    consequence, impact = consequence_columns(*factorize(masks))
    rec = ints(chunk.a_rec)
    data = {
        "chrom": cols.chrom(rec), "pos": cols.pos.take(rec), "id": cols.ids,
        "ref": cols.ref.take(rec), "alt": cols.alt,
        "variant_type": pa.DictionaryArray.from_arrays(ints(chunk.a_kind, np.int32), KIND_NAMES),
        "consequence": consequence, "impact": impact, **bcols.coded(tx),
        **{c: from_pairs(c) for c in ("exon", "protein_pos", "amino_acids", "hgvs_c", "hgvs_p")},
        "n_transcripts": ints(n_tx, np.int32), "line": cols.line.take(rec),
    }
    return pa.Table.from_pydict({f.name: data[f.name] for f in VARIANT_SCHEMA}, schema=VARIANT_SCHEMA), masks, tx
