"""The VCF `CSQ` INFO field in Ensembl VEP's pipe-separated layout.

Tools that read VEP output (bcftools +split-vep, vcf2maf, cyvcf2 users, slivar ...) find the
field layout in the header's Description after "Format: ", so ours follows the same rule.
Strings are built column-wise with Arrow compute: per-pair Python string joins would cost
more than the whole consequence calculation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotator.engine.prep import vep_allele_strings as vep_alleles  # noqa: F401 - lives in prep (the reader process runs it)

FIELDS: tuple[str, ...] = (
    "Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE",
    "EXON", "INTRON", "HGVSc", "HGVSp", "cDNA_position", "CDS_position", "Protein_position",
    "Amino_acids", "Codons", "Existing_variation", "DISTANCE", "STRAND",
)
# Fields whose values come from free text (input IDs, bundle names, HGVS with '='): only these
# can hold characters that break the INFO grammar; the others are terms and numbers.
FREE_TEXT = frozenset({"SYMBOL", "Gene", "Feature", "BIOTYPE", "HGVSc", "HGVSp", "Existing_variation"})

# Percent-encoded as VEP does ('=' -> %3D); '%' first so encodings are not encoded again.
_ESCAPES = (("%", "%25"), (",", "%2C"), (";", "%3B"), ("=", "%3D"), ("|", "%7C"), (" ", "%20"), ("\t", "%09"))
_NEEDS_ESCAPE = r"[%,;=| \t]"
_STRAND = pa.array(["-1", "", "1"], pa.string())


def header_line(bundle_name: str) -> str:
    return ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from GAS '
            f'(bundle {bundle_name}). Format: {"|".join(FIELDS)}">')


def needs_escape(col: pa.Array) -> bool:
    return len(col) > 0 and bool(pc.any(pc.match_substring_regex(col, _NEEDS_ESCAPE)).as_py())


def escape(col: pa.Array) -> pa.Array:
    """Percent-encode the characters that cannot appear inside a CSQ value."""
    if not needs_escape(col):
        return col
    for ch, rep in _ESCAPES:
        col = pc.replace_substring(col, ch, rep)
    return col


def pair_columns(ttable: pa.Table, alleles: np.ndarray | pa.Array, pairs_allele: np.ndarray, strand: np.ndarray,
                 transcript_fields: pa.Array, consequence_impact: pa.Array, allele_ids: pa.Array,
                 names_clean: bool) -> dict[str, pa.Array]:
    """CSQ values per pair, from the transcript table, as runs of '|'-separated fields in FIELDS
    order (a key names the fields its value holds).

    Runs whose values do not vary within a transcript or a consequence mask come joined:
    `transcript_fields` is 'SYMBOL|Gene|Feature_type|Feature|BIOTYPE' (bundle names
    pre-escaped), `consequence_impact` 'Consequence|IMPACT'. IDs are escaped per allele before
    being spread over pairs; HGVS strings hold only HGVS syntax and a transcript id, so when the
    bundle's ids are clean only the '=' of a synonymous p. needs encoding.
    """
    t = {name: ttable.column(name).combine_chunks() for name in PAIR_FIELDS.values()}
    pa_allele = pa.array(pairs_allele)
    ids = escape(pc.if_else(pc.equal(allele_ids, "."), "", allele_ids)).take(pa_allele)
    hgvs_c = t["hgvs_c"] if names_clean else escape(t["hgvs_c"])
    hgvs_p = pc.replace_substring(t["hgvs_p"], "=", "%3D") if names_clean else escape(t["hgvs_p"])
    distance = pc.if_else(pc.greater(t["distance"], 0), pc.cast(t["distance"], pa.string()), "")
    return {
        "Allele": (alleles if isinstance(alleles, pa.Array) else pa.array(alleles, pa.string())).take(pa_allele),
        "Consequence|IMPACT": consequence_impact,
        "SYMBOL|Gene|Feature_type|Feature|BIOTYPE": transcript_fields,
        "EXON": t["exon"], "INTRON": t["intron"],
        "HGVSc": hgvs_c, "HGVSp": hgvs_p,
        "cDNA_position": t["cdna_pos"], "CDS_position": t["cds_pos"], "Protein_position": t["protein_pos"],
        "Amino_acids": t["amino_acids"], "Codons": t["codons"],
        "Existing_variation": ids,
        "DISTANCE": distance, "STRAND": _STRAND.take(pa.array(strand.astype(np.int8) + 1)),
    }


# Transcript-table columns behind the per-pair CSQ fields.
PAIR_FIELDS = {"EXON": "exon", "INTRON": "intron", "HGVSc": "hgvs_c", "HGVSp": "hgvs_p",
               "cDNA_position": "cdna_pos", "CDS_position": "cds_pos", "Protein_position": "protein_pos",
               "Amino_acids": "amino_acids", "Codons": "codons", "DISTANCE": "distance"}


def record_csq(n_records: int, pair_record: np.ndarray, columns: dict[str, pa.Array]) -> pa.Array:
    """One CSQ value per record (null where the record has no rows); pairs grouped by record.

    `columns`: runs of fields in FIELDS order, each key naming its fields ('A|B' for a run of
    two already joined with '|')."""
    assert "|".join(columns) == "|".join(FIELDS), "columns must cover FIELDS in order"
    per_pair = pc.binary_join_element_wise(*columns.values(), "|")
    offsets = np.searchsorted(pair_record, np.arange(n_records + 1), "left").astype(np.int32)
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), per_pair), ",")
    empty = offsets[1:] == offsets[:-1]
    return pc.if_else(pa.array(empty), pa.nulls(n_records, pa.string()), joined)


def annotate_lines(lines: list[str] | pa.Array, csq: pa.Array, drop_existing: bool,
                   sites_only: bool = False) -> pa.Array:
    """The data lines with ';CSQ=...' appended to INFO (or INFO replaced when it is '.')."""
    arr = lines if isinstance(lines, pa.Array) else pa.array(lines, pa.string())
    if sites_only and not drop_existing:  # INFO ends the line: append without splitting
        dot = pc.ends_with(arr, "\t.")
        base = pc.if_else(dot, pc.utf8_slice_codeunits(arr, 0, -1), arr)
        return pc.coalesce(pc.binary_join_element_wise(base, pc.if_else(dot, "CSQ=", ";CSQ="), csq, ""), arr)
    cols = pc.split_pattern(arr, "\t", max_splits=8)
    n_cols = pc.list_value_length(cols)
    fixed = [pc.list_element(cols, i) for i in range(7)]
    info = pc.list_element(cols, 7)
    if drop_existing:
        info = pc.replace_substring_regex(info, r"(^|;)CSQ=[^;]*", "")
        info = pc.replace_substring_regex(info, r"^;", "")
        info = pc.if_else(pc.equal(info, ""), ".", info)
    with_csq = pc.if_else(pc.equal(info, "."), pc.binary_join_element_wise("CSQ=", csq, ""),
                          pc.binary_join_element_wise(info, ";CSQ=", csq, ""))
    body = pc.binary_join_element_wise(*fixed, pc.coalesce(with_csq, info), "\t")
    # The reader guarantees every line has the header's column count: all have samples or none.
    if len(lines) == 0 or pc.min(n_cols).as_py() <= 8:
        return body
    return pc.binary_join_element_wise(body, pc.list_element(cols, 8), "\t")


def text(lines: pa.Array) -> bytes:
    """The lines, each followed by a newline, as one bytes object cut from Arrow's buffer."""
    if len(lines) == 0:
        return b""
    nl = pc.binary_join_element_wise(lines, "", "\n")
    nl = nl.combine_chunks() if isinstance(nl, pa.ChunkedArray) else nl
    offsets = np.frombuffer(nl.buffers()[1], dtype=np.int32, count=len(nl) + 1, offset=nl.offset * 4)
    return bytes(memoryview(nl.buffers()[2])[offsets[0]:offsets[-1]])


@dataclass
class AnnotatedLines:
    """What a chunk's annotated VCF text is made of; `render()` makes it.

    Why deferred: the rendering is Arrow compute (joins, escapes, splits), which releases the
    GIL, so the writer thread renders a chunk on the other core while the main thread works on
    the next chunk. All fields pickle (worker processes return this too)."""
    ttable: pa.Table
    alleles: pa.Array
    pairs_allele: np.ndarray
    pair_record: np.ndarray         # record of each pair (pairs grouped by record)
    strand: np.ndarray
    transcript_fields: pa.Array
    consequence_impact: pa.Array
    allele_ids: pa.Array
    names_clean: bool
    lines: pa.Array
    n_records: int
    drop_existing: bool
    sites_only: bool

    def render(self) -> bytes:
        columns = pair_columns(self.ttable, self.alleles, self.pairs_allele, self.strand,
                               self.transcript_fields, self.consequence_impact, self.allele_ids,
                               self.names_clean)
        csq = record_csq(self.n_records, self.pair_record, columns)
        return text(annotate_lines(self.lines, csq, self.drop_existing, self.sites_only))
