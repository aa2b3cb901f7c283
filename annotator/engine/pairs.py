"""The consequence table: one row per (alternate allele x overlapping transcript).

An allele that overlaps nothing (within 5 kb) gets one row with tx = -1 and the
intergenic_variant bit. A '*' or NONE allele gets no row at all.
Rows are grouped by allele, transcripts in bundle order within an allele.

String columns are Arrow string arrays (pa.StringArray, one chunk, no nulls) of len(pairs)
rows, '' where they do not apply (always, for non-coding rows without FASTA). They are built
in Arrow from the start: the output tables and the CSQ field take them as they are, where
converting millions of Python strings used to cost more than computing them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from annotator.engine.arrow import ints, offsets, repeated, strings

_NOTHING = strings([""])   # the '' that index 0 of `scatter`'s take points at (the default fill)


def scatter(n: int, rows: np.ndarray, values: pa.Array, fill: str = "") -> pa.Array:
    """A string column of n rows: values[k] at row rows[k], `fill` everywhere else.

    When `fill` is '', `rows` ascend (most callers) and `values` has no nulls, the column shares
    the values' bytes and only new offsets are computed: no string is copied."""
    values = values.cast(pa.string())
    if not fill and values.null_count == 0 and (len(rows) < 2 or bool((rows[1:] > rows[:-1]).all())):
        src = offsets(values)
        lengths = np.zeros(n + 1, np.int32)
        lengths[np.asarray(rows) + 1] = np.diff(src)
        out = np.cumsum(lengths, dtype=np.int32)
        out += src[0]
        data = values.buffers()[2] or pa.py_buffer(b"")
        return pa.StringArray.from_buffers(n, pa.py_buffer(out), data)
    idx = np.zeros(n, np.int32)
    idx[rows] = np.arange(1, len(rows) + 1, dtype=np.int32)
    return pa.concat_arrays([strings([fill]) if fill else _NOTHING, values]).take(ints(idx))


def scatter_objects(n: int, rows: np.ndarray, values: np.ndarray) -> pa.Array:
    """As scatter(), from an object array of str; only its non-empty values are converted."""
    nz = np.flatnonzero(values != "")
    return scatter(n, rows[nz], strings(values[nz].tolist()))


def blank(n: int) -> pa.Array:
    """n empty strings."""
    return repeated("", n)


@dataclass
class Pairs:
    allele: np.ndarray       # int64 index into the chunk's alleles
    tx: np.ndarray           # int64 transcript index into the bundle, -1 = intergenic
    mask: np.ndarray         # uint64 SO bitmask (annotator.engine.so)
    distance: np.ndarray     # int64 distance to the transcript for up/downstream rows, else 0
    exon: pa.Array           # str "3/10" (exon number / exon count) or ''
    intron: pa.Array         # str "2/9" or ''
    cdna_pos: pa.Array       # str "123" or "123-125" (VEP style, '?' for an unknown side) or ''
    cds_pos: pa.Array        # str, as cdna_pos
    protein_pos: pa.Array    # str, as cdna_pos
    amino_acids: pa.Array    # str "R/W", "L" (synonymous), "-/K" ... or ''
    codons: pa.Array         # str "Cgg/Tgg" (changed bases upper case) or ''
    hgvs_c: pa.Array         # str "ENST...:c.123G>A" style, '' when not derivable
    hgvs_p: pa.Array         # str "ENSP-or-tx:p.Arg41Trp" style, '' when not derivable

    def __len__(self) -> int:
        return len(self.allele)

    def take(self, order: np.ndarray) -> "Pairs":
        """The rows in `order`."""
        idx = ints(order)
        return Pairs(**{k: v.take(idx) if isinstance(v, pa.Array) else v[order] for k, v in vars(self).items()})
