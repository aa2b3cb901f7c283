"""The results browser's core: a job's NAME.parquet for its owner, filtered, sorted, summarised, exported.

No Streamlit here (the page `ui/views/results.py` is a thin shell over this module), so a notebook
or a test uses the same code::

    from gas import results as R
    ref = R.locate(jobs, user_id, job_id)            # ownership and state checks, one HEAD
    table = R.read_table(R.local_copy(ref))          # downloaded once into the local cache
    view = R.select(table, R.Filters(impacts=("HIGH",), sort="gene"))   # row numbers, no copy
    R.page(view, 0, 1000).to_pandas()
    R.summaries(view)["impact"]; R.to_csv_bytes(view.table())
    R.apply(table, filters)                          # the same rows as a table of their own

Rules:
- Every read starts with `JobStore.get_for_user`: another user's job and a missing one are the
  same `NoSuchJob("no such job: ...")`. Only then is the key (from the job item, checked with
  `storage.key_belongs_to`) read from S3.
- A job that is not COMPLETED, FAILED, or whose results are archived / being restored is refused
  with a one-line `ResultsUnavailable` (the messages `gas.client` uses too).
- The parquet is downloaded once per (job, ETag) into a local cache folder (atomic rename, oldest
  files evicted beyond a size bound); callers keep a parsed `pyarrow.Table`, never the bytes.
- Filtering is pyarrow.compute over the whole table (1M rows in tens of ms); the consequence
  column is `&`-joined SO terms, and a filter term matches a row carrying any of them.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from gas import aws, storage
from gas.client import (
    ARCHIVED_MESSAGE,
    NoSuchJob,
    ResultsUnavailable,
    parquet_key,
)
from gas.downloads import unavailable_reason
from gas.jobs import JOB_ID_RE, Job
from gas.settings import Settings

# SO terms most severe first (as the engine emits them: annotator/engine/so.py; copied because the
# core imports nothing from the engine). Unknown terms sort after these, alphabetically.
SO_TERMS: tuple[str, ...] = (
    "transcript_ablation", "splice_acceptor_variant", "splice_donor_variant", "stop_gained",
    "frameshift_variant", "stop_lost", "start_lost", "feature_elongation", "feature_truncation",
    "inframe_insertion", "inframe_deletion", "missense_variant", "protein_altering_variant",
    "splice_region_variant", "incomplete_terminal_codon_variant", "start_retained_variant",
    "stop_retained_variant", "synonymous_variant", "coding_sequence_variant", "5_prime_UTR_variant",
    "3_prime_UTR_variant", "non_coding_transcript_exon_variant", "intron_variant",
    "non_coding_transcript_variant", "upstream_gene_variant", "downstream_gene_variant",
    "intergenic_variant",
)
_SO_RANK = {t: i for i, t in enumerate(SO_TERMS)}
IMPACT_ORDER: tuple[str, ...] = ("HIGH", "MODERATE", "LOW", "MODIFIER")
NONE_LABEL = "(none)"  # rows without a consequence/impact (contig not in the bundle, `*`, ALT `.`)

# Columns the free text searches (case-insensitive substring), and the ones a user may sort by.
TEXT_COLUMNS: tuple[str, ...] = ("id", "gene", "gene_id", "transcript", "hgvs_c", "hgvs_p", "consequence")
SORTABLE: tuple[str, ...] = ("chrom", "pos", "id", "ref", "alt", "variant_type", "consequence", "impact",
                             "gene", "gene_id", "transcript", "biotype", "hgvs_c", "hgvs_p", "n_transcripts")
MAX_TEXT = 200
DEFAULT_CACHE_BYTES = 2 * 1024**3


# ----------------------------------------------------------------------------- chromosome order

_CHR_PREFIX = re.compile(r"^chr", re.IGNORECASE)


def chrom_sort_key(name: str) -> tuple[int, int, str]:
    """Natural order: 1..22, X, Y, MT (with or without a `chr` prefix), then anything else by name."""
    bare = _CHR_PREFIX.sub("", name or "")
    if bare.isdigit():
        return (0, int(bare), "")
    special = {"X": 1, "Y": 2, "M": 3, "MT": 3}.get(bare.upper())
    if special is not None:
        return (special, 0, "")
    return (4, 0, name or "")


def _term_rank(term: str) -> tuple[int, str]:
    return (_SO_RANK.get(term, len(SO_TERMS)), term)


# ----------------------------------------------------------------------------- loading

@dataclass(frozen=True)
class ResultRef:
    """A result object the caller may read: the owner's completed job, its key, the object's ETag."""

    job: Job
    key: str
    etag: str
    size: int


def check_readable(job: Job | None, job_id: str) -> Job:
    """The job if its results can be read now; NoSuchJob / ResultsUnavailable (one line) otherwise."""
    if job is None:
        raise NoSuchJob(f"no such job: {job_id}")
    reason = unavailable_reason(job)
    if reason:
        raise ResultsUnavailable(reason)
    return job


def locate(jobs: Any, user_id: str, job_id: str, *, settings: Settings | None = None,
           s3: Any = None) -> ResultRef:
    """Ownership first (`jobs.get_for_user`), then the job's state, then one HEAD of its parquet."""
    job_id = (job_id or "").strip()
    job = jobs.get_for_user(job_id, user_id) if JOB_ID_RE.match(job_id) else None
    job = check_readable(job, job_id)
    key = parquet_key(job)
    if key is None or not storage.key_belongs_to(key, job.user_id, job.job_id):
        raise ResultsUnavailable(f"job {job.job_id} has no parquet result")
    settings = settings or Settings.from_env()
    s3 = s3 or aws.s3(settings.region)
    try:
        head = s3.head_object(Bucket=settings.results_bucket, Key=key)
    except ClientError as exc:
        raise _unavailable(exc, job.job_id) from exc
    if head.get("StorageClass") in ("GLACIER", "DEEP_ARCHIVE") and 'ongoing-request="false"' not in (
            head.get("Restore") or ""):
        raise ResultsUnavailable(ARCHIVED_MESSAGE)  # the item lags behind the object: trust S3
    return ResultRef(job=job, key=key, etag=str(head.get("ETag", "")).strip('"'),
                     size=int(head.get("ContentLength", 0)))


def _unavailable(exc: ClientError, job_id: str) -> ResultsUnavailable:
    code = aws.error_code(exc)
    if code in ("InvalidObjectState", "403", "AccessDenied"):
        return ResultsUnavailable(ARCHIVED_MESSAGE)
    if code in ("404", "NoSuchKey", "NotFound"):
        return ResultsUnavailable(f"job {job_id}: the result object is missing")
    return ResultsUnavailable(f"job {job_id}: the results could not be read ({code or type(exc).__name__})")


def default_cache_dir() -> Path:
    """$GAS_RESULTS_CACHE_DIR, else <$GAS_CACHE_DIR or ~/.cache/gas>/results."""
    explicit = os.environ.get("GAS_RESULTS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("GAS_CACHE_DIR") or Path.home() / ".cache" / "gas") / "results"


def cache_limit_bytes() -> int:
    raw = os.environ.get("GAS_RESULTS_CACHE_BYTES")
    return int(raw) if raw else DEFAULT_CACHE_BYTES


def cache_path(ref: ResultRef, cache_dir: Path | None = None) -> Path:
    """<cache>/<user_id>/<job_id>-<hash of ETag>.parquet: a new object (new ETag) is a new file."""
    tag = hashlib.sha256(ref.etag.encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / ref.job.user_id / f"{ref.job.job_id}-{tag}.parquet"


def local_copy(ref: ResultRef, *, cache_dir: Path | None = None, settings: Settings | None = None,
               s3: Any = None, max_bytes: int | None = None) -> Path:
    """The result parquet as a local file, downloaded once per (job, ETag).

    The download goes to a temporary file in the same folder and is renamed into place, so a
    reader never sees a partial file and two sessions racing both end with the same file.
    """
    path = cache_path(ref, cache_dir)
    if path.exists() and (ref.size == 0 or path.stat().st_size == ref.size):
        os.utime(path)  # most recently used: evicted last
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings = settings or Settings.from_env()
    s3 = s3 or aws.s3(settings.region)
    fd, tmp = tempfile.mkstemp(prefix=".dl-", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        s3.download_file(settings.results_bucket, ref.key, tmp)
        os.replace(tmp, path)
    except ClientError as exc:
        raise _unavailable(exc, ref.job.job_id) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    evict(path.parents[1], max_bytes if max_bytes is not None else cache_limit_bytes(), keep=path)
    return path


def evict(cache_dir: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete least recently used cached parquets until the folder holds at most `max_bytes`."""
    files = []
    for p in cache_dir.glob("*/*.parquet"):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, p in sorted(files):
        if total <= max_bytes:
            break
        if keep is not None and p == keep:
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
        total -= size
    return removed


def read_table(path: str | Path) -> pa.Table:
    """Read a NAME.parquet (memory-mapped; one chunk per row group, which every function here takes)."""
    return pq.read_table(path, memory_map=True)


def load(jobs: Any, user_id: str, job_id: str, *, settings: Settings | None = None, s3: Any = None,
         cache_dir: Path | None = None) -> pa.Table:
    """locate + local_copy + read_table in one call (a notebook; the UI caches between the steps)."""
    ref = locate(jobs, user_id, job_id, settings=settings, s3=s3)
    return read_table(local_copy(ref, cache_dir=cache_dir, settings=settings, s3=s3))


# ----------------------------------------------------------------------------- filters

def _tuple(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return tuple(out)


@dataclass(frozen=True)
class Filters:
    """What the user asked for. Empty fields do not filter. Hashable (a cache key).

    consequences: SO terms; a row matches if its `&`-joined consequence holds any of them
    impacts, chromosomes: exact values (NONE_LABEL selects rows with an empty impact)
    genes: symbols or gene ids, case-insensitive exact match on `gene` or `gene_id`
    text: case-insensitive substring of any of TEXT_COLUMNS
    sort: a column of SORTABLE (None keeps the file's order); descending flips it
    """

    consequences: tuple[str, ...] = ()
    impacts: tuple[str, ...] = ()
    genes: tuple[str, ...] = ()
    chromosomes: tuple[str, ...] = ()
    text: str = ""
    sort: str | None = None
    descending: bool = False

    def __post_init__(self) -> None:
        for name in ("consequences", "impacts", "genes", "chromosomes"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        object.__setattr__(self, "text", (self.text or "").strip()[:MAX_TEXT])
        if self.sort is not None and self.sort not in SORTABLE:
            raise ValueError(f"cannot sort by {self.sort!r}; one of {', '.join(SORTABLE)}")
        object.__setattr__(self, "descending", bool(self.descending))

    @classmethod
    def parse_genes(cls, raw: str) -> tuple[str, ...]:
        """'BRCA1, TP53 ENSG0001' -> ('BRCA1', 'TP53', 'ENSG0001')."""
        return _tuple(re.split(r"[\s,;]+", raw or ""))

    @property
    def active(self) -> bool:
        return bool(self.consequences or self.impacts or self.genes or self.chromosomes or self.text)


def _col(table: pa.Table, name: str) -> pa.Array | pa.ChunkedArray:
    return table.column(name)


def _empty_or(values: tuple[str, ...]) -> list[str]:
    return ["" if v == NONE_LABEL else v for v in values]


def mask(table: pa.Table, filters: Filters) -> pa.Array | pa.ChunkedArray | None:
    """The boolean row mask of the filters (None when nothing filters)."""
    parts = []
    if filters.consequences:
        wanted = set(filters.consequences)
        distinct = pc.unique(_col(table, "consequence")).to_pylist()
        hit = [c for c in distinct if c is not None and (
            wanted.intersection(c.split("&")) or (NONE_LABEL in wanted and c == ""))]
        parts.append(pc.is_in(_col(table, "consequence"), value_set=pa.array(hit, pa.string())))
    if filters.impacts:
        parts.append(pc.is_in(_col(table, "impact"), value_set=pa.array(_empty_or(filters.impacts), pa.string())))
    if filters.chromosomes:
        parts.append(pc.is_in(_col(table, "chrom"), value_set=pa.array(list(filters.chromosomes), pa.string())))
    if filters.genes:
        wanted_genes = pa.array([g.upper() for g in filters.genes], pa.string())
        by = [pc.is_in(pc.utf8_upper(_col(table, c)), value_set=wanted_genes) for c in ("gene", "gene_id")
              if c in table.column_names]
        parts.append(by[0] if len(by) == 1 else pc.or_(*by))
    if filters.text:
        needle = filters.text.lower()  # lower-casing both sides is ~2x faster than RE2's ignore_case
        text_parts = [pc.match_substring(pc.utf8_lower(_col(table, c)), needle)
                      for c in TEXT_COLUMNS if c in table.column_names]
        any_text = text_parts[0]
        for p in text_parts[1:]:
            any_text = pc.or_(any_text, p)
        parts.append(any_text)
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = pc.and_(out, p)
    return pc.fill_null(out, False)


def sort_indices(table: pa.Table, column: str, descending: bool = False) -> pa.Array:
    """Row order for a sort column; chrom, consequence and impact sort by meaning, not spelling.

    chrom: natural order (then pos); consequence: severity of its most severe term; impact:
    HIGH..MODIFIER; anything else by value, ties in file order (the sort is stable).
    """
    order = "descending" if descending else "ascending"
    if column == "chrom":
        keys = {"_k": _rank_column(table.column("chrom"), chrom_sort_key), "_p": table.column("pos")}
    elif column == "consequence":
        keys = {"_k": _rank_column(table.column("consequence"), _consequence_key)}
    elif column == "impact":
        keys = {"_k": _rank_column(table.column("impact"), _impact_key)}
    else:
        keys = {"_k": table.column(column)}
    key_table = pa.table(keys)
    return pc.sort_indices(key_table, sort_keys=[(k, order) for k in keys])


def _consequence_key(value: str) -> tuple[int, str]:
    return _term_rank(value.split("&")[0]) if value else (len(SO_TERMS) + 1, "")


def _impact_key(value: str) -> tuple[int, str]:
    return (IMPACT_ORDER.index(value), "") if value in IMPACT_ORDER else (len(IMPACT_ORDER), value)


def _rank_column(column: pa.ChunkedArray | pa.Array, key: Any) -> pa.Array:
    """Map a low-cardinality string column to int ranks by `key` of its distinct values."""
    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    dictionary = encoded.dictionary.to_pylist()
    order = sorted(range(len(dictionary)), key=lambda i: key(dictionary[i] or ""))
    rank_of = [0] * len(dictionary)
    for r, i in enumerate(order):
        rank_of[i] = r
    return pc.take(pa.array(rank_of, pa.int32()), encoded.indices)


@dataclass(frozen=True, eq=False)
class View:
    """The rows matching some filters, in order, without copying them: the result table plus the
    row numbers to show (None: every row, in file order). A page, a column or the whole selection
    is taken only when asked for, so a cached view of 1M rows costs 8 MB of indices, not a copy."""

    base: pa.Table
    indices: pa.Array | None = None

    @property
    def num_rows(self) -> int:
        return self.base.num_rows if self.indices is None else len(self.indices)

    def column(self, name: str) -> pa.ChunkedArray | pa.Array:
        col = self.base.column(name)
        return col if self.indices is None else col.take(self.indices)

    def page(self, offset: int, n: int) -> pa.Table:
        offset = max(0, min(int(offset), self.num_rows))
        n = max(0, int(n))
        if self.indices is None:
            return self.base.slice(offset, n)
        return self.base.take(self.indices.slice(offset, n))

    def table(self) -> pa.Table:
        """The selected rows as a table of their own (exports)."""
        return self.base if self.indices is None else self.base.take(self.indices)


def select(table: pa.Table, filters: Filters) -> View:
    """The rows matching `filters`, in the requested order, as a View (the input is not changed)."""
    m = mask(table, filters)
    idx = None if m is None else pc.indices_nonzero(m)
    n = table.num_rows if idx is None else len(idx)
    if filters.sort and n > 1:
        needed = ["chrom", "pos"] if filters.sort == "chrom" else [filters.sort]
        keys = table.select(needed)
        order = sort_indices(keys if idx is None else keys.take(idx), filters.sort, filters.descending)
        idx = order if idx is None else idx.take(order)
    return View(table, idx)


def apply(table: pa.Table, filters: Filters) -> pa.Table:
    """The rows matching `filters`, in the requested order, as a new table."""
    return select(table, filters).table()


def page(rows: pa.Table | View, offset: int, n: int) -> pa.Table:
    """Rows offset..offset+n (clamped): what the browser gets, never the whole table."""
    if isinstance(rows, View):
        return rows.page(offset, n)
    offset = max(0, min(int(offset), rows.num_rows))
    return rows.slice(offset, max(0, int(n)))


def page_count(rows: int, page_size: int) -> int:
    return max(1, -(-rows // page_size))


# ----------------------------------------------------------------------------- options and summaries

def _value_counts(column: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in pc.value_counts(column).to_pylist():
        label = row["values"] if row["values"] else NONE_LABEL
        out[label] = out.get(label, 0) + int(row["counts"])
    return out


def options(table: pa.Table) -> dict[str, list[str]]:
    """Filter choices present in the data: SO terms by severity, impacts in order, chromosomes naturally."""
    combos = pc.unique(table.column("consequence")).to_pylist()
    terms = {t for c in combos if c for t in c.split("&")}
    if any(not c for c in combos):
        terms.add(NONE_LABEL)
    impacts = set(_value_counts(table.column("impact")))
    chroms = [c for c in pc.unique(table.column("chrom")).to_pylist() if c is not None]
    return {
        "consequences": sorted(terms, key=lambda t: (t == NONE_LABEL, _term_rank(t))),
        "impacts": [i for i in IMPACT_ORDER if i in impacts] + sorted(impacts - set(IMPACT_ORDER)),
        "chromosomes": sorted(chroms, key=chrom_sort_key),
    }


def summaries(table: pa.Table | View) -> dict[str, list[tuple[str, int]]]:
    """Counts for the charts, each list in display order.

    consequence: by most severe term (the first of the `&`-joined terms), most severe first;
    impact: HIGH, MODERATE, LOW, MODIFIER (always all four, zeros included), then anything else;
    chromosome: variants per chromosome in natural order (1..22, X, Y, MT, others).
    """
    most_severe: dict[str, int] = {}
    for combo, n in _value_counts(table.column("consequence")).items():
        term = combo.split("&")[0]
        most_severe[term] = most_severe.get(term, 0) + n
    impact = _value_counts(table.column("impact"))
    chrom = _value_counts(table.column("chrom"))
    return {
        "consequence": sorted(most_severe.items(), key=lambda kv: (kv[0] == NONE_LABEL, _term_rank(kv[0]))),
        "impact": [(i, impact.get(i, 0)) for i in IMPACT_ORDER]
                  + sorted((k, v) for k, v in impact.items() if k not in IMPACT_ORDER),
        "chromosome": sorted(chrom.items(), key=lambda kv: chrom_sort_key(kv[0])),
    }


# ----------------------------------------------------------------------------- exports

def write_csv(table: pa.Table, sink: Any) -> None:
    """CSV with a header row; `sink` is a path or a binary file object (streamed in batches)."""
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=True, batch_size=65536))


def write_parquet(table: pa.Table, sink: Any) -> None:
    """Parquet (zstd) with the result's own schema: `pandas.read_parquet` gives the same columns."""
    pq.write_table(table, sink, compression="zstd")


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): the CSV
# export prefixes such text cells with an apostrophe, which spreadsheets hide and treat as "text".
# Only text columns, only those first characters; "-" alone (a common "none") and negative
# numbers are left alone. The Parquet export and the stored results keep every value verbatim.
_FORMULA_START = r"^(?:[=+@\t\r]|-[^0-9.])"


def defuse_formulas(table: pa.Table) -> pa.Table:
    """The table with text cells that a spreadsheet would run as a formula prefixed with `'`."""
    columns = []
    for col in table.columns:
        if pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type):
            col = col.cast(pa.string())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            risky = pc.fill_null(pc.match_substring_regex(col, _FORMULA_START), False)
            col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def to_csv_bytes(table: pa.Table) -> bytes:
    """CSV of `table` for people (spreadsheets): formula-like text defused (see above)."""
    buf = io.BytesIO()
    write_csv(defuse_formulas(table), buf)
    return buf.getvalue()


def to_parquet_bytes(table: pa.Table) -> bytes:
    buf = pa.BufferOutputStream()
    write_parquet(table, buf)
    return buf.getvalue().to_pybytes()

