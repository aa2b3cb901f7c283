"""The in-memory transcript model every part of the engine shares (a loaded bundle).

All coordinates are 1-based and inclusive, on the forward strand, whatever the source.
Transcripts are sorted by (contig, start, end); exons of a transcript are stored in
ascending genomic order (exon *numbers* follow the transcript's strand, see `exon_number`).
String columns are numpy object arrays so that fancy indexing works on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

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
    tx_id: np.ndarray               # object str, stable (derived when the source has none; docs/bundles.md)
    gene_id: np.ndarray             # object str
    gene_name: np.ndarray           # object str
    biotype: np.ndarray             # object str (transcript biotype, or gene type when that is all there is)
    tx_exon_off: np.ndarray         # int64, len n_tx + 1: exons of transcript i are [off[i], off[i+1])

    # exons (n_ex rows), grouped by transcript, ascending genomic order within a transcript
    ex_start: np.ndarray            # int64
    ex_end: np.ndarray              # int64

    # known variants (dbSNP common sites), sorted by (contig, pos)
    snp_contig: np.ndarray          # int32
    snp_pos: np.ndarray             # int64, 1-based position of REF
    snp_ref: np.ndarray             # object str
    snp_alt: np.ndarray             # object str
    snp_id: np.ndarray              # object str, e.g. "rs123"

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
