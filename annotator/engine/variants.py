"""A chunk of VCF records and their alternate alleles, as the reader hands them on.

Records keep their text as written (the VCF writer re-emits it); alleles are flattened
(one row per ALT of every record) and carry a normalised form for the consequence
calculation: shared suffix, then shared prefix, of REF and ALT trimmed, position moved
accordingly. The alleles are always *reported* as written in the input.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pyarrow as pa


class Kind(IntEnum):
    SNV = 0        # one base for one base
    MNV = 1        # n bases for n bases (n > 1) after trimming
    INS = 2        # normalised REF empty
    DEL = 3        # normalised ALT empty
    DELINS = 4     # different non-zero lengths after trimming
    SYMBOLIC = 5   # <DEL>, <DUP>, <INS>, <CNV>, breakends ...; extent from INFO END when given
    STAR = 6       # '*': the allele is a deletion described by another record
    NONE = 7       # ALT '.' (no alternate), or REF == ALT


@dataclass
class VcfChunk:
    # records (n_rec rows)
    lines: list[str] | pa.Array  # the data lines as read, without line endings: an Arrow string
                              #   array from a regular block (vcf._regular_chunk) and once
                              #   prep.prepare ran; prep.line_array gives it either way
    line_no: np.ndarray       # int64, 1-based line number in the input file
    chrom: Sequence[str]      # lists from the parser; Arrow-backed (arrow.StringColumn) once
                              #   prep.prepare ran, as are ids, ref and a_alt
    pos: np.ndarray           # int64
    ids: Sequence[str]        # the ID column as written ('.' when absent)
    ref: Sequence[str]
    # alleles (n_allele rows)
    a_rec: np.ndarray         # int64 index of the record in this chunk
    a_num: np.ndarray         # int32 1-based index of the ALT within its record
    a_alt: Sequence[str]      # the ALT as written
    a_pos: np.ndarray         # int64 first affected reference base after normalisation;
                              #   for an insertion, the base *after* the insertion point
    a_end: np.ndarray         # int64 last affected reference base (a_pos - 1 for an insertion;
                              #   INFO END for a symbolic allele, else pos + len(REF) - 1)
    a_ref: list[str]          # normalised REF ('' for an insertion)
    a_alt_n: list[str]        # normalised ALT ('' for a deletion; the ALT as written for symbolic)
    a_kind: np.ndarray        # int8 Kind
    # values computed from the fields above, by name (`cached`); the reader process fills it
    # (prep.prepare) so that the main thread only unpickles them
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_records(self) -> int:
        return len(self.lines)

    @property
    def n_alleles(self) -> int:
        return len(self.a_rec)

    def cached(self, key: str, make: Callable[[VcfChunk], object]) -> object:
        """`make(self)`, computed once per chunk (possibly before it was pickled); None is a
        value like any other (prep.snv_bases gives it for non-ASCII bases)."""
        if key not in self.derived:
            self.derived[key] = make(self)
        return self.derived[key]
