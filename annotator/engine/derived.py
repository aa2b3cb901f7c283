"""What the engine derives from a bundle (TranscriptIndex, BundleColumns), saved beside it.

Why: deriving them took 0.4-0.6 s at every process start, most of a small job's wall time
(the course's premium_3.vcf, 3,431 records, ran in about 0.9 s, of which 0.6 s was this). Saved,
they are memory-mapped instead (.npy files, and an Arrow IPC file for the strings), so a new
process pays only for the pages it touches, and worker processes share those pages.

Never stale: the folder is named by a hash of the bundle's meta.json and of the source of
every module that derives the arrays, so a rebuilt bundle or changed code gets a new folder
(old ones are removed when a new one is written). Written to a temporary folder and renamed
into place, so processes starting together never read half a cache. Where the bundle folder
is read-only the arrays are derived in memory every time, as before.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

from annotator.engine import csq, model, overlap, tables
from annotator.engine.model import Bundle
from annotator.engine.overlap import TranscriptIndex
from annotator.engine.tables import BundleColumns

log = logging.getLogger("gas.engine")
_PREFIX = "derived-"
_STRINGS = "strings.arrow"


def derived_key(bundle_dir: Path) -> str:
    """Hash of the bundle's meta.json and of the code that derives the arrays."""
    h = hashlib.sha256((Path(bundle_dir) / "meta.json").read_bytes())
    for module in (overlap, tables, csq, model):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def load_derived(bundle_dir: Path, bundle: Bundle) -> tuple[TranscriptIndex, BundleColumns]:
    """The bundle's index and string columns: mapped from the saved folder when there is one
    for this bundle and this code, else derived (and saved, when the folder is writable)."""
    folder = Path(bundle_dir) / f"{_PREFIX}{derived_key(bundle_dir)}"
    if (folder / _STRINGS).is_file():
        try:
            return _load(folder, bundle)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            log.warning("ignoring unreadable %s (%s); deriving again", folder, exc)
    index, columns = TranscriptIndex(bundle), BundleColumns(bundle)
    _save(folder, index, columns)
    return index, columns


def _load(folder: Path, bundle: Bundle) -> tuple[TranscriptIndex, BundleColumns]:
    # np.asarray: plain ndarray views of the maps; np.memmap's Python-level __getitem__ and
    # result wrapping cost ~0.1 s per 1M variants in fancy indexing
    saved = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
             for name in TranscriptIndex.SAVED}
    with pa.memory_map(str(folder / _STRINGS)) as source:
        strings = ipc.open_file(source).read_all()
    return TranscriptIndex(bundle, saved=saved), BundleColumns(bundle, saved=strings)


def _save(folder: Path, index: TranscriptIndex, columns: BundleColumns) -> None:
    """Best effort: a bundle folder we cannot write to just means deriving again next time."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    except OSError:
        return
    try:
        for name in TranscriptIndex.SAVED:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(index, name)), allow_pickle=False)
        table = columns.to_table()
        with ipc.new_file(str(tmp / _STRINGS), table.schema) as writer:
            writer.write_table(table)
        os.rename(tmp, folder)
    except OSError:                        # another process saved it first, or the disk is full
        shutil.rmtree(tmp, ignore_errors=True)
        return
    for old in folder.parent.glob(f"{_PREFIX}*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
