"""Values that depend only on a chunk, computed once per chunk and cached on it (`VcfChunk.derived`).

For large inputs the reader process (readproc.py) computes them before pickling the chunk, so
the main thread (which holds the GIL for most of the chunk work) only unpickles Arrow buffers;
otherwise they are computed where first needed. Nothing here imports pandas, pyarrow.compute
(~0.13 s) or the model code, and Arrow arrays are built from buffers (arrow.py): the reader
process stays light (pandas alone is ~0.3 s of start-up and ~50 MB).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from annotator.engine import normalise
from annotator.engine.arrow import (
    StringColumn,
    fields,
    from_lengths,
    ints,
    offsets,
    repeated,
    strings,
    take_strings,
)
from annotator.engine.variants import Kind, VcfChunk


def chrom_codes(chunk: VcfChunk) -> tuple[np.ndarray, list[str]]:
    """Per record: the code of its CHROM among the chunk's distinct CHROMs, which are listed in
    order of first appearance."""
    return chunk.cached("chrom_codes", _chrom_codes)


def _chrom_codes(chunk: VcfChunk) -> tuple[np.ndarray, list[str]]:
    chrom, n = chunk.chrom, len(chunk.chrom)
    if n and chrom.count(chrom[0]) == n:      # the usual chunk of a sorted VCF: one contig
        return np.zeros(n, np.int64), [chrom[0]]
    return codes_of(list(chrom))


def codes_of(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Per value, its code among the distinct values, which are listed in order of first
    appearance."""
    index = {c: i for i, c in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), list(index)


def record_columns(chunk: VcfChunk) -> tuple[pa.Array, ...]:
    """pos, ref (per record), alt (per allele), line number and ID (per record) as Arrow arrays
    (CHROM goes into the tables as a dictionary of `chrom_codes`)."""
    return chunk.cached("columns", _record_columns)


def _record_columns(chunk: VcfChunk) -> tuple[pa.Array, ...]:
    return ints(chunk.pos), fields(chunk.ref), fields(chunk.a_alt), ints(chunk.line_no), fields(chunk.ids)


def vep_alleles(chunk: VcfChunk) -> pa.Array:
    """vep_allele_strings as an Arrow array: the ALT column with the stripped alleles' first byte
    cut out of its buffers (not a list of 20k strings joined again)."""
    return chunk.cached("vep_alleles", _vep_alleles)


def _vep_alleles(chunk: VcfChunk) -> pa.Array:
    alt = record_columns(chunk)[2]
    strip = stripped_alleles(chunk)
    if not strip.any():
        return alt
    at = offsets(alt)
    data = np.frombuffer(alt.buffers()[2], np.uint8)
    if (data[at[:-1][strip]] >= 0x80).any():         # a multi-byte first character: by the strings
        return fields(vep_allele_strings(chunk).tolist())
    cut = strip.astype(np.int32)
    lengths = np.diff(at) - cut
    dash = strip & (lengths == 0)                    # nothing left: VEP writes '-'
    lengths[dash] = 1
    out = np.zeros(len(alt) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    source = np.repeat(at[:-1] + cut - out[:-1], lengths) + np.arange(int(out[-1]))
    source[out[:-1][dash]] = len(data)               # the '-' appended below
    return from_lengths(np.append(data, np.uint8(ord("-")))[source].tobytes(), lengths)


def vep_allele_strings(chunk: VcfChunk) -> np.ndarray:
    """Allele per ALT as VEP writes it: a base shared by every allele of an indel record is dropped.

    REF=A ALT=AT -> 'T'; REF=AT ALT=A -> '-'. Records of SNVs/MNVs only keep their ALTs unchanged.
    """
    out = np.asarray(chunk.a_alt, dtype=object).copy()
    strip = np.flatnonzero(stripped_alleles(chunk))
    out[strip] = [a[1:] or "-" for a in out[strip].tolist()]
    return out


def stripped_alleles(chunk: VcfChunk) -> np.ndarray:
    """Per allele, whether VEP drops its first base: the plain ALTs of a record whose REF and
    plain ALTs do not all have one length and all share REF's first base."""
    strip = np.zeros(chunk.n_alleles, bool)
    simple = (chunk.a_kind == Kind.SNV) | (chunk.a_kind == Kind.MNV)
    rec_simple = np.ones(chunk.n_records, dtype=bool)
    rec_simple[chunk.a_rec[~simple]] = False
    todo = np.flatnonzero(~rec_simple[chunk.a_rec])          # alleles of records with an indel etc.
    if not len(todo):
        return strip
    alts = take_strings(chunk.a_alt, todo)
    plain = np.array([a != "" and a[0] not in "<*." and "[" not in a and "]" not in a for a in alts], bool)
    rec = chunk.a_rec[todo]
    refs = take_strings(chunk.ref, rec[plain])
    palts = [a for a, p in zip(alts, plain.tolist()) if p]
    diff_len = np.fromiter(map(len, palts), np.int64, len(palts)) != np.fromiter(map(len, refs), np.int64, len(refs))
    diff_first = _first_differs(palts, refs)
    prec = rec[plain]
    strip_rec = np.zeros(chunk.n_records, dtype=bool)
    strip_rec[prec[diff_len]] = True
    strip_rec[prec[diff_first]] = False
    strip[todo[plain][strip_rec[prec]]] = True
    return strip


def _first_differs(alts: list[str], refs: list[str]) -> np.ndarray:
    """Whether each ALT's first character differs from its REF's, ignoring case. REF is bases
    (letters), so comparing the codes with the 0x20 (case) bit set is exact; as 'U1' arrays,
    not one str.upper() pair per allele."""
    a = np.array(alts, dtype="U1").view(np.uint32)
    r = np.array(refs, dtype="U1").view(np.uint32)
    return (a | 0x20) != (r | 0x20)


def line_array(chunk: VcfChunk) -> pa.Array:
    """The chunk's data lines as an Arrow array."""
    if isinstance(chunk.lines, pa.Array):
        return chunk.lines
    return chunk.cached("lines", lambda c: strings(c.lines))


def snv_bases(chunk: VcfChunk) -> tuple[np.ndarray, np.ndarray] | None:
    """Per allele, the byte of its normalised REF and ALT where it is an SNV (0 elsewhere); None
    when some SNV base is not one ASCII character (callers then read the strings)."""
    return chunk.cached("snv_bases", _snv_bases)


def _snv_bases(chunk: VcfChunk) -> tuple[np.ndarray, np.ndarray] | None:
    return normalise.snv_bases(chunk.a_kind, chunk.a_ref, chunk.a_alt_n)


def prepare(chunk: VcfChunk) -> None:
    """Compute all of the above (in the reader process, before pickling). The lines and the
    per-record strings the main thread only samples (CHROM, ID, REF, ALT) are then kept as Arrow
    arrays: unpickling 20k str objects costs the main thread ~1.4 ms a chunk per list."""
    codes, names = chrom_codes(chunk)
    _, ref, alt, _, ids = record_columns(chunk)
    vep_alleles(chunk)
    snv_bases(chunk)
    chunk.lines = line_array(chunk)
    chunk.derived.pop("lines", None)
    chrom = repeated(names[0], len(codes)) if len(names) == 1 else strings([names[c] for c in codes.tolist()])
    chunk.chrom, chunk.ids, chunk.ref, chunk.a_alt = (StringColumn(a) for a in (chrom, ids, ref, alt))
