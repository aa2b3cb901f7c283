"""The in-memory transcript model every part of the engine shares (a loaded bundle).

All coordinates are 1-based and inclusive, on the forward strand, whatever the source.
Transcripts are sorted by (contig, start, end); exons of a transcript are stored in
ascending genomic order (exon *numbers* follow the transcript's strand, see `exon_number`).
String columns are numpy object arrays so that fancy indexing works on them; a loaded bundle
holds them as `CodedStrings`, which index the same way (see there).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

# tx_flags bits
CDS_START_COMPLETE = 1  # the start codon is annotated (start_lost is meaningful)
CDS_END_COMPLETE = 2    # the stop codon is annotated (stop_lost is meaningful)


def canonical_contig(name: str) -> str:
    """The bundle's spelling of a contig: no 'chr' prefix, mitochondrion as 'MT'.

    '1'/'chr1' -> '1'; 'chrX' -> 'X'; 'M'/'chrM'/'chrMT'/'MT' -> 'MT'.
    """
    n = name[3:] if name[:3].lower() == "chr" else name
    if n.upper() in ("M", "MT"):
        return "MT"
    if n.upper() in ("X", "Y"):
        return n.upper()
    return n


class CodedStrings:
    """A string column as a bundle saves it: its distinct `values` (a numpy str array) and each
    row's code into them. Indexing gives what the object array would: a str for an int, an object
    array for an index array or mask.

    Why: a loaded bundle used to turn every row of its seven string columns into a Python str
    (~70 ms for a whole-genome bundle, a fifth of a small job's run from the CLI), while a run
    reads only the rows it reports (transcript ids for HGVS, gene names, dbSNP hits). Values
    shared by many rows (genes, biotypes, alleles) are turned into str once, on first use;
    columns of distinct values (transcript and rs ids) row by row as they are read."""

    __slots__ = ("values", "codes", "_objects")

    def __init__(self, values: np.ndarray, codes: np.ndarray) -> None:
        self.values = values
        self.codes = codes
        self._objects: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, idx: Any) -> Any:
        at = self.codes[idx]
        if np.ndim(at) == 0:
            return str(self.values[at])
        if len(self.values) * 2 <= len(self.codes):      # shared values: as str once
            if self._objects is None:
                self._objects = self.values.astype(object)
            return self._objects[at]
        return self.values[at].astype(object)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tolist())

    def __eq__(self, other: object) -> np.ndarray:     # type: ignore[override] - elementwise, as numpy's
        if isinstance(other, str):
            code = np.flatnonzero(self.values == other)
            return self.codes == code[0] if len(code) else np.zeros(len(self.codes), bool)
        return np.asarray(self) == other

    def __ne__(self, other: object) -> np.ndarray:     # type: ignore[override]
        return ~(self == other)

    def tolist(self) -> list[str]:
        return self.values[self.codes].tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[np.arange(len(self.codes))] if dtype is None else np.asarray(self.tolist(), dtype=dtype)


@dataclass
class Bundle:
    name: str                       # e.g. "GRCh37" or an operator's name for a GFF3 bundle
    genome: str                     # assembly name as declared by the source ("GRCh37", "GRCh38", or "")
    source: str                     # where it came from (package version or GFF3 path), for the run log
    contigs: list[str]              # canonical contig names; a contig id is an index into this list

    # transcripts (n_tx rows)
    tx_contig: np.ndarray           # int32 contig id
    tx_start: np.ndarray            # int64
    tx_end: np.ndarray              # int64
    tx_strand: np.ndarray           # int8, +1 or -1
    tx_cds_start: np.ndarray        # int64 genomic start of the CDS incl. stop codon; 0 when non-coding
    tx_cds_end: np.ndarray          # int64 genomic end of the CDS; 0 when non-coding
    tx_flags: np.ndarray            # uint8, CDS_START_COMPLETE | CDS_END_COMPLETE
    tx_id: np.ndarray | CodedStrings  # object str, stable (derived when the source has none; docs/bundles.md)
    gene_id: np.ndarray | CodedStrings  # object str
    gene_name: np.ndarray | CodedStrings  # object str
    biotype: np.ndarray | CodedStrings  # object str (transcript biotype, or gene type when that is all there is)
    tx_exon_off: np.ndarray         # int64, len n_tx + 1: exons of transcript i are [off[i], off[i+1])

    # exons (n_ex rows), grouped by transcript, ascending genomic order within a transcript
    ex_start: np.ndarray            # int64
    ex_end: np.ndarray              # int64

    # known variants (dbSNP common sites), sorted by (contig, pos)
    snp_contig: np.ndarray          # int32
    snp_pos: np.ndarray             # int64, 1-based position of REF
    snp_ref: np.ndarray | CodedStrings  # object str
    snp_alt: np.ndarray | CodedStrings  # object str
    snp_id: np.ndarray | CodedStrings  # object str, e.g. "rs123"

    _contig_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._contig_index = {c: i for i, c in enumerate(self.contigs)}

    @property
    def n_transcripts(self) -> int:
        return len(self.tx_start)

    @cached_property
    def snp_key(self) -> np.ndarray:
        """contig id << 32 | pos of every dbSNP site (sorted, as the sites are): built once,
        not per chunk."""
        return self.snp_contig.astype(np.int64) * (np.int64(1) << np.int64(32)) + self.snp_pos

    def contig_id(self, name: str) -> int:
        """Contig id for any common spelling of a contig name; -1 when the bundle lacks it."""
        i = self._contig_index.get(name)
        if i is None:
            i = self._contig_index.get(canonical_contig(name), -1)
            self._contig_index[name] = i
        return i

    def exon_number(self, tx: int, k: int) -> int:
        """1-based exon number (in transcript direction) of the k-th exon in genomic order."""
        n = int(self.tx_exon_off[tx + 1] - self.tx_exon_off[tx])
        return k + 1 if self.tx_strand[tx] > 0 else n - k
