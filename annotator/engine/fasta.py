"""Reference sequence access for codon-level consequences and HGVS.

`Reference.open` accepts a plain FASTA, a bgzipped FASTA or a plain-gzip FASTA, with
or without index files. It never writes next to the input (reference directories are
often read-only or shared); whatever is missing is built once in a cache directory:

* bgzip + .fai + .gzi next to it: used as is.
* bgzip with a gzipped `.gzi.gz` (as some distributions ship): gunzipped into the cache.
* bgzip or plain FASTA without an index: `samtools faidx` (via pysam) writes the
  .fai/.gzi into the cache.
* plain gzip (not block-compressed, so not randomly accessible): decompressed once into
  the cache and indexed there.

The cache directory defaults to `~/.cache/gas/fasta/<key>/`, where the key is derived
from the file's absolute path, size and mtime, so a changed file gets a fresh index.

Random access into a bgzipped file decompresses a 64 kb block per fetch unless the
previous fetch was in the same block: fetch in position order (the engine does).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from bisect import bisect_right
from pathlib import Path

import numpy as np
import pysam

from .compressed import GZIP_MAGIC
from .errors import AnnotationError
from .model import canonical_contig


def _gzip_kind(path: Path) -> str:
    """'bgzf', 'gzip' or 'plain', from the first bytes of the file."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if not head.startswith(GZIP_MAGIC):
        return "plain"
    # BGZF: FEXTRA flag and a 'BC' extra subfield right after the 12-byte header.
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def default_cache_dir(path: Path) -> Path:
    """Per-file cache directory under ~/.cache/gas/fasta (keyed by path, size, mtime)."""
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "gas" / "fasta" / key


class Reference:
    """An indexed FASTA: 1-based inclusive, upper-case fetches, contig aliases resolved."""

    def __init__(self, fasta: pysam.FastaFile, path: Path) -> None:
        self._fa = fasta
        self.path = path
        self._names: dict[str, str] = {}
        for name in fasta.references:
            self._names[name] = name
            self._names.setdefault(canonical_contig(name), name)
        self._lengths = dict(zip(fasta.references, fasta.lengths))

    @classmethod
    def open(cls, path: Path | str, cache_dir: Path | str | None = None) -> Reference:
        """Open `path`, building any missing index in `cache_dir` (see the module doc)."""
        path = Path(path)
        if not path.exists():
            raise AnnotationError(f"reference FASTA not found: {path}")
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(path)
        kind = _gzip_kind(path)
        try:
            if kind == "gzip":
                plain = cache / (path.name[:-3] if path.name.endswith(".gz") else path.name + ".fa")
                if not plain.exists():
                    cache.mkdir(parents=True, exist_ok=True)
                    tmp = plain.with_suffix(plain.suffix + ".part")
                    with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
                    tmp.replace(plain)
                return cls(cls._open_indexed(plain, "plain", cache), path)
            return cls(cls._open_indexed(path, kind, cache), path)
        except (OSError, ValueError) as e:
            raise AnnotationError(f"cannot open reference FASTA {path}: {e}") from e

    @staticmethod
    def _open_indexed(path: Path, kind: str, cache: Path) -> pysam.FastaFile:
        fai = Path(str(path) + ".fai")
        gzi = Path(str(path) + ".gzi")
        if fai.exists() and (kind == "plain" or gzi.exists()):
            return pysam.FastaFile(str(path), filepath_index=str(fai),
                                   filepath_index_compressed=str(gzi) if kind == "bgzf" else None)
        cfai, cgzi = cache / (path.name + ".fai"), cache / (path.name + ".gzi")
        if kind == "bgzf" and not cgzi.exists() and fai.exists():
            gzgz = Path(str(path) + ".gzi.gz")
            if gzgz.exists():
                cache.mkdir(parents=True, exist_ok=True)
                with gzip.open(gzgz, "rb") as src, open(cgzi, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                cfai = fai
        if not cfai.exists() or (kind == "bgzf" and not cgzi.exists()):
            cache.mkdir(parents=True, exist_ok=True)
            args = [str(path), "--fai-idx", str(cfai)]
            if kind == "bgzf":
                args += ["--gzi-idx", str(cgzi)]
            pysam.faidx(*args)
        return pysam.FastaFile(str(path), filepath_index=str(cfai),
                               filepath_index_compressed=str(cgzi) if kind == "bgzf" else None)

    @property
    def contigs(self) -> list[str]:
        return list(self._fa.references)

    def has_contig(self, contig: str) -> bool:
        return self._resolve(contig) is not None

    def _resolve(self, contig: str) -> str | None:
        name = self._names.get(contig)
        if name is None:
            name = self._names.get(canonical_contig(contig))
            if name is None and canonical_contig(contig) == "MT":
                name = self._names.get("chrM")
            if name is not None:
                self._names[contig] = name
        return name

    def length(self, contig: str) -> int:
        name = self._resolve(contig)
        return 0 if name is None else self._lengths[name]

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases start..end (1-based, inclusive), upper case; clipped at the contig ends."""
        name = self._resolve(contig)
        if name is None:
            raise AnnotationError(f"contig {contig} is not in the reference FASTA {self.path}")
        start = max(int(start), 1)
        end = min(int(end), self._lengths[name])
        if end < start:
            return ""
        return self._fa.fetch(name, start - 1, end).upper()

    def close(self) -> None:
        self._fa.close()


class Prefetch:
    """Stretches of one contig of a Reference, each fetched once.

    A chunk's variants cluster on the genome, so one fetch per cluster of wanted ranges
    (ranges closer than `gap` are merged) replaces thousands of small fetches, each a
    pysam call and, on a bgzipped file, maybe a block decompression. `fetch` answers like
    Reference.fetch (and falls back to it outside the stretches); `codes` gives the bases
    at many positions at once as ASCII codes, for vectorised codon reading.
    """

    def __init__(self, reference: Reference, contig: str, lo: np.ndarray, hi: np.ndarray,
                 gap: int = 1 << 16) -> None:
        self.ref = reference
        self.contig = contig
        self.length = reference.length(contig)
        lo = np.maximum(np.asarray(lo, dtype=np.int64), 1)
        hi = np.minimum(np.asarray(hi, dtype=np.int64), self.length)
        keep = lo <= hi
        lo, hi = lo[keep], hi[keep]
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], hi[order]
        if len(lo):
            reach = np.maximum.accumulate(hi)
            cut = np.flatnonzero(lo[1:] > reach[:-1] + gap) + 1
            self.lo = lo[np.concatenate(([0], cut))]
            self.hi = reach[np.concatenate((cut - 1, [len(lo) - 1]))]
        else:
            self.lo = self.hi = np.zeros(0, np.int64)
        pieces = [reference.fetch(contig, a, z) for a, z in zip(self.lo.tolist(), self.hi.tolist())]
        self.base = np.concatenate(([0], np.cumsum([len(p) for p in pieces], dtype=np.int64)))
        self.seq = "".join(pieces)
        self._buf = np.frombuffer(self.seq.encode("latin-1"), dtype=np.uint8)
        self._lo, self._hi, self._base = self.lo.tolist(), self.hi.tolist(), self.base.tolist()

    def fetch(self, start: int, end: int) -> str:
        """As Reference.fetch(contig, start, end)."""
        start, end = max(start, 1), min(end, self.length)
        if end < start:
            return ""
        k = bisect_right(self._lo, start) - 1
        if k >= 0 and end <= self._hi[k]:
            o = self._base[k] - self._lo[k]
            return self.seq[o + start:o + end + 1]
        return self.ref.fetch(self.contig, start, end)

    def codes(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ASCII code of the base at each position, whether the position is held);
        code 0 where it is not."""
        pos = np.asarray(pos, dtype=np.int64)
        if not len(self.lo):
            return np.zeros(len(pos), np.uint8), np.zeros(len(pos), bool)
        k = np.searchsorted(self.lo, pos, side="right") - 1
        kc = np.maximum(k, 0)
        held = (k >= 0) & (pos <= self.hi[kc])
        idx = np.where(held, self.base[kc] + pos - self.lo[kc], 0)
        return np.where(held, self._buf[idx], 0).astype(np.uint8), held
