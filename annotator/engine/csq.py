"""The VCF `CSQ` INFO field in Ensembl VEP's pipe-separated layout.

Tools that read VEP output (bcftools +split-vep, vcf2maf, cyvcf2 users, slivar ...) find the
field layout in the header's Description after "Format: ", so ours follows the same rule.
Strings are built column-wise with Arrow compute: per-pair Python string joins would cost
more than the whole consequence calculation.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotator.engine.variants import Kind, VcfChunk

FIELDS: tuple[str, ...] = (
    "Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE",
    "EXON", "INTRON", "HGVSc", "HGVSp", "cDNA_position", "CDS_position", "Protein_position",
    "Amino_acids", "Codons", "Existing_variation", "DISTANCE", "STRAND",
)

# Characters that would break the INFO/CSQ grammar, percent-encoded as VEP does ('=' -> %3D).
_ESCAPES = (("%", "%25"), (",", "%2C"), (";", "%3B"), ("=", "%3D"), ("|", "%7C"), (" ", "%20"), ("\t", "%09"))
_NEEDS_ESCAPE = r"[%,;=| \t]"


def header_line(bundle_name: str) -> str:
    return ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from GAS '
            f'(bundle {bundle_name}). Format: {"|".join(FIELDS)}">')


def escape(col: pa.Array) -> pa.Array:
    """Percent-encode the characters that cannot appear inside a CSQ value."""
    if len(col) == 0 or not pc.any(pc.match_substring_regex(col, _NEEDS_ESCAPE)).as_py():
        return col
    for ch, rep in _ESCAPES:
        col = pc.replace_substring(col, ch, rep)
    return col


def vep_alleles(chunk: VcfChunk) -> np.ndarray:
    """Allele per ALT as VEP writes it: a base shared by every allele of an indel record is dropped.

    REF=A ALT=AT -> 'T'; REF=AT ALT=A -> '-'. SNV records keep their ALT unchanged.
    """
    out = np.asarray(chunk.a_alt, dtype=object).copy()
    simple = (chunk.a_kind == Kind.SNV) | (chunk.a_kind == Kind.MNV)
    rec_simple = np.ones(chunk.n_records, dtype=bool)
    np.logical_and.at(rec_simple, chunk.a_rec, simple)
    for r in np.flatnonzero(~rec_simple).tolist():
        idx = np.flatnonzero(chunk.a_rec == r) if chunk.n_records < 64 else _alleles_of(chunk, r)
        alts = [chunk.a_alt[i] for i in idx]
        ref = chunk.ref[r]
        plain = [a for a in alts if a and a[0] not in "<*." and "[" not in a and "]" not in a]
        alleles = [ref, *plain]
        if len({len(a) for a in alleles}) > 1 and len({a[:1].upper() for a in alleles}) == 1:
            for i in idx:
                a = chunk.a_alt[i]
                if a in plain:
                    out[i] = a[1:] or "-"
    return out


def _alleles_of(chunk: VcfChunk, r: int) -> np.ndarray:
    lo = np.searchsorted(chunk.a_rec, r, "left")
    hi = np.searchsorted(chunk.a_rec, r, "right")
    return np.arange(lo, hi)


def record_csq(chunk: VcfChunk, pair_record: np.ndarray, columns: dict[str, pa.Array]) -> pa.Array:
    """One CSQ value per record (null where the record has no rows), pairs grouped by record."""
    parts = [escape(columns[f]) for f in FIELDS]
    per_pair = pc.binary_join_element_wise(*parts, "|")
    offsets = np.searchsorted(pair_record, np.arange(chunk.n_records + 1), "left").astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), per_pair)
    joined = pc.binary_join(lists, ",")
    empty = offsets[1:] == offsets[:-1]
    return pc.if_else(pa.array(empty), pa.nulls(len(joined), pa.string()), joined)


def annotate_lines(lines: list[str], csq: pa.Array, drop_existing: bool) -> pa.Array:
    """The data lines with ';CSQ=...' appended to INFO (or INFO replaced when it is '.')."""
    cols = pc.split_pattern(pa.array(lines, pa.string()), "\t", max_splits=8)
    fixed = [pc.list_element(cols, i) for i in range(7)]
    info = pc.list_element(cols, 7)
    rest = pc.list_slice(cols, 8, 9)
    rest = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(cols), 8), rest, pa.scalar([""], rest.type)), 0)
    if drop_existing:
        info = pc.replace_substring_regex(info, r"(^|;)CSQ=[^;]*", "")
        info = pc.replace_substring_regex(info, r"^;", "")
        info = pc.if_else(pc.equal(info, ""), ".", info)
    with_csq = pc.if_else(pc.equal(info, "."), pc.binary_join_element_wise("CSQ=", csq, ""),
                          pc.binary_join_element_wise(info, ";CSQ=", csq, ""))
    new_info = pc.coalesce(with_csq, info)
    has_rest = pc.greater(pc.list_value_length(cols), 8)
    body = pc.binary_join_element_wise(*fixed, new_info, "\t")
    return pc.if_else(has_rest, pc.binary_join_element_wise(body, rest, "\t"), body)
