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

from annotator.engine.arrow import (
    EMPTY,
    FALSE,
    bool_values,
    int_values,
    ints,
    numbers,
    offsets,
    repeated,
    scalar,
    strings,
)
from annotator.engine.pairs import scatter
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
_SPECIAL = np.zeros(256, bool)
_SPECIAL[np.frombuffer(b"%,;=| \t", np.uint8)] = True
_STRAND = strings(["-1", "", "1"])
_NO_LINES = strings([])
_PIPE, _COMMA, _DOT, _TAB, _NL = scalar("|"), scalar(","), scalar("."), scalar("\t"), scalar("\n")
_CSQ, _SEMI_CSQ = scalar("CSQ="), scalar(";CSQ=")
_FIELD = ints(np.arange(9, dtype=np.int32))   # list_element indices, as Arrow scalars


def header_line(bundle_name: str) -> str:
    return ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from GAS '
            f'(bundle {bundle_name}). Format: {"|".join(FIELDS)}">')


def needs_escape(col: pa.Array) -> bool:
    """Whether any value holds a character `escape` encodes: a table lookup over the bytes of the
    values (a regex match per value took ~1 ms per 20k IDs)."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(col) == 0:
        return False
    if col.type != pa.string():
        return bool(pc.any(pc.match_substring_regex(col, _NEEDS_ESCAPE)).as_py())
    data = col.buffers()[2]
    if data is None:
        return False
    # bytes of null values may be anything, but they have no length: a null is never escaped
    at = offsets(col)
    values = np.frombuffer(data, np.uint8)[at[0]:at[-1]]
    return bool(_SPECIAL[values].any())


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
    pa_allele = ints(pairs_allele)
    ids = escape(pc.if_else(pc.equal(allele_ids, _DOT), EMPTY, allele_ids)).take(pa_allele)
    hgvs_c = t["hgvs_c"] if names_clean else escape(t["hgvs_c"])
    hgvs_p = pc.replace_substring(t["hgvs_p"], "=", "%3D") if names_clean else escape(t["hgvs_p"])
    d = int_values(t["distance"])
    far = np.flatnonzero(d > 0)           # up/downstream rows; '' for the rest
    distance = scatter(len(d), far, numbers(d[far]))
    return {
        "Allele": (alleles if isinstance(alleles, pa.Array) else strings(list(alleles))).take(pa_allele),
        "Consequence|IMPACT": consequence_impact,
        "SYMBOL|Gene|Feature_type|Feature|BIOTYPE": transcript_fields,
        "EXON": t["exon"], "INTRON": t["intron"],
        "HGVSc": hgvs_c,
        "HGVSp|cDNA_position|CDS_position|Protein_position|Amino_acids|Codons": _joined_where_set(
            [hgvs_p, t["cdna_pos"], t["cds_pos"], t["protein_pos"], t["amino_acids"], t["codons"]]),
        "Existing_variation": ids,
        "DISTANCE": distance, "STRAND": _STRAND.take(ints(strand.astype(np.int8) + 1)),
    }


def _joined_where_set(columns: list[pa.Array]) -> pa.Array:
    """The columns '|'-joined row by row, joining only the rows where any is set: the exonic
    fields are empty in ~97 % of rows of a genome-wide VCF (introns, flanks), which get the
    bare separators. The final join costs per row and column, so one column for six took
    pair_values from 0.56 to 0.44 s per 1M variants."""
    n = len(columns[0])
    rows = np.flatnonzero(np.logical_or.reduce([_set(c) for c in columns])) if n else np.zeros(0, np.int64)
    if len(rows) > n // 2:      # mostly exonic rows (an exome): taking the set rows would not pay
        return pc.binary_join_element_wise(*columns, _PIPE)
    take = ints(rows)
    joined = pc.binary_join_element_wise(*[c.take(take) for c in columns], _PIPE)
    return scatter(n, rows, joined, fill="|" * (len(columns) - 1))


def _set(col: pa.Array) -> np.ndarray:
    """Which values are not '' (from the offsets: no string is read)."""
    if col.type != pa.string() or col.null_count:
        return bool_values(pc.fill_null(pc.not_equal(col, EMPTY), FALSE))
    at = offsets(col)
    return at[1:] != at[:-1]


# Transcript-table columns behind the per-pair CSQ fields.
PAIR_FIELDS = {"EXON": "exon", "INTRON": "intron", "HGVSc": "hgvs_c", "HGVSp": "hgvs_p",
               "cDNA_position": "cdna_pos", "CDS_position": "cds_pos", "Protein_position": "protein_pos",
               "Amino_acids": "amino_acids", "Codons": "codons", "DISTANCE": "distance"}


def pair_values(columns: dict[str, pa.Array]) -> pa.Array:
    """One CSQ value per pair: the runs of `columns` (FIELDS order) joined with '|'."""
    assert "|".join(columns) == "|".join(FIELDS), "columns must cover FIELDS in order"
    return pc.binary_join_element_wise(*columns.values(), _PIPE)


def render(lines: pa.Array, values: pa.Array, pair_record: np.ndarray, drop_existing: bool,
           sites_only: bool = False) -> memoryview:
    """The chunk's annotated VCF text: every line, newline-terminated, with `CSQ=` and its
    pairs' values (comma-separated) added to INFO ('.' replaced); a line whose record has no
    pairs as it was (but without its old CSQ when `drop_existing`).

    When every record has pairs (nearly always): the values as one list per record, joined with
    ',' by Arrow, then head + list + tail per line (0.165 s per 1M records against 0.25 s for the
    general way). Otherwise one join over rows (a record's first row carries its line up to INFO,
    its last row what follows INFO and the newline; a record without pairs its plain line).
    Either way the data buffer of the last join is the text. `pair_record`: each value's record,
    ascending. The result is a view of Arrow's buffer.
    """
    n = len(lines)
    if n == 0:
        return memoryview(b"")
    lines = lines if isinstance(lines, pa.Array) else strings(list(lines))
    counts = np.bincount(pair_record, minlength=n)
    has = counts > 0
    head, plain, tail = _line_parts(lines, drop_existing, sites_only, need_plain=not has.all())
    if has.all():   # the usual chunk: each record's values joined with ',' as a list, then the line
        bounds = np.zeros(n + 1, np.int32)
        np.cumsum(counts, out=bounds[1:])
        per_record = pc.binary_join(pa.ListArray.from_arrays(ints(bounds), values), _COMMA)
        return _text(pc.binary_join_element_wise(head, per_record, tail, EMPTY))
    rows_per = np.where(has, counts, 1)
    first = np.cumsum(rows_per) - rows_per                 # each record's first row
    n_rows = int(rows_per.sum())
    rec = np.repeat(np.arange(n), rows_per)
    k = np.arange(n_rows) - first[rec]                      # row within its record
    starts, ends = k == 0, k == rows_per[rec] - 1
    # before the value: head (records with pairs) or the whole line (without); else nothing
    a = np.where(starts, np.where(has[rec], rec, n + rec), n + len(plain))   # the '' after head and plain
    before = pa.concat_arrays([head, plain, strings([""])]).take(ints(a))
    idx = np.full(n_rows, len(values), np.int64)       # a record without pairs: '' for its value
    idx[has[rec]] = np.arange(len(values))
    value = pa.concat_arrays([values.cast(pa.string()), strings([""])]).take(ints(idx))
    c = np.where(has[rec], np.where(ends, rec, n), n + 1)  # after: tail, ',' or nothing
    after = pa.concat_arrays([tail, strings([",", ""])]).take(ints(c))
    return _text(pc.binary_join_element_wise(before, value, after, EMPTY))


def _text(joined: pa.Array | pa.ChunkedArray) -> memoryview:
    """The data buffer of a string array: its strings one after another, without a copy."""
    joined = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
    at = offsets(joined)
    return memoryview(joined.buffers()[2])[at[0]:at[-1]]


def _line_parts(lines: pa.Array, drop_existing: bool, sites_only: bool,
                need_plain: bool = True) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per line: the text through INFO followed by 'CSQ=' or ';CSQ=' (INFO '.' dropped); the
    whole line as written without CSQ, newline-terminated (only when `need_plain`: lines whose
    records have no pairs are rare; else an empty array); what follows INFO, newline-terminated."""
    if sites_only and not drop_existing:      # INFO ends the line: no split needed
        dot = pc.ends_with(lines, "\t.")
        base = pc.if_else(dot, pc.utf8_slice_codeunits(lines, 0, -1), lines)
        head = pc.binary_join_element_wise(base, pc.if_else(dot, _CSQ, _SEMI_CSQ), EMPTY)
        plain = pc.binary_join_element_wise(lines, _NL, EMPTY) if need_plain else _NO_LINES
        return head, plain, repeated("\n", len(lines))
    cols = pc.split_pattern(lines, "\t", max_splits=8)
    fixed = [pc.list_element(cols, _FIELD[i]) for i in range(7)]
    info = pc.list_element(cols, _FIELD[7])
    if drop_existing:
        info = pc.replace_substring_regex(info, r"(^|;)CSQ=[^;]*", "")
        info = pc.replace_substring_regex(info, r"^;", "")
        info = pc.if_else(pc.equal(info, EMPTY), _DOT, info)
    # The reader guarantees every line has the header's column count: all have samples or none.
    if pc.min(pc.list_value_length(cols)).as_py() > 8:
        tail = pc.binary_join_element_wise(_TAB, pc.list_element(cols, _FIELD[8]), _NL, EMPTY)
    else:
        tail = repeated("\n", len(lines))
    head = pc.binary_join_element_wise(*fixed, pc.if_else(pc.equal(info, _DOT), _CSQ,
                                                          pc.binary_join_element_wise(info, _SEMI_CSQ, EMPTY)), _TAB)
    plain = pc.binary_join_element_wise(pc.binary_join_element_wise(*fixed, info, _TAB), tail, EMPTY) \
        if need_plain else _NO_LINES
    return head, plain, tail


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
    drop_existing: bool
    sites_only: bool

    def render(self) -> memoryview:
        columns = pair_columns(self.ttable, self.alleles, self.pairs_allele, self.strand,
                               self.transcript_fields, self.consequence_impact, self.allele_ids,
                               self.names_clean)
        return render(self.lines, pair_values(columns), self.pair_record, self.drop_existing, self.sites_only)
