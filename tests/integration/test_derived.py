"""The derived arrays saved beside a bundle (annotator/engine/derived.py)."""
from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from annotator.engine import derived
from annotator.engine.annotate import annotate, load_results
from annotator.engine.bundle import load_bundle
from annotator.engine.overlap import TranscriptIndex
from annotator.engine.tables import BUNDLE_STRINGS, BundleColumns
from tests.integration.test_annotate import RECORDS, fix_refs
from tests.integration.tinygenome import write_vcf


@pytest.fixture
def bundle_dir(tiny, tmp_path):
    """A private copy of the tiny bundle (tests here write into it)."""
    d = tmp_path / "bundle"
    shutil.copytree(tiny["bundle"], d, ignore=shutil.ignore_patterns("derived-*"))
    return d


def saved_folders(d):
    return sorted(p.name for p in d.glob("derived-*"))


def test_saved_once_then_mapped_and_equal_to_derived(bundle_dir):
    bundle = load_bundle(bundle_dir)
    derived.load_derived(bundle_dir, bundle)
    assert saved_folders(bundle_dir) == [f"derived-{derived.derived_key(bundle_dir)}"]
    again_index, again_columns = derived.load_derived(bundle_dir, bundle)
    mapped = again_index.ex_key_start
    assert type(mapped) is np.ndarray and isinstance(mapped.base, np.memmap)   # mapped, not derived
    fresh_index, fresh_columns = TranscriptIndex(bundle), BundleColumns(bundle)
    for name in TranscriptIndex.SAVED:
        assert np.array_equal(getattr(again_index, name), getattr(fresh_index, name)), name
        assert getattr(again_index, name).dtype == getattr(fresh_index, name).dtype, name
    assert again_columns.to_table().equals(fresh_columns.to_table())
    assert again_columns.ids_clean == fresh_columns.ids_clean
    tx = np.array([0, -1, bundle.n_transcripts - 1, -1, 0])
    for (name, a), b in zip(again_columns.coded(tx).items(), fresh_columns.coded(tx).values()):
        assert a.equals(b) and a.dictionary_decode().to_pylist() == [
            getattr(bundle, BUNDLE_STRINGS[name])[t] if t >= 0 else "" for t in tx.tolist()], name
    q = (np.zeros(3, np.int32), np.array([90, 150, 5_000]), np.array([90, 150, 5_000]))
    for a, b in zip(again_index.query(*q), fresh_index.query(*q)):
        assert np.array_equal(a, b)


def test_annotation_is_the_same_with_and_without_the_saved_arrays(tiny, bundle_dir, tmp_path):
    vcf = write_vcf(tmp_path / "s.vcf", fix_refs(tiny["seq"], RECORDS))
    outs = []
    for run in ("first", "mapped"):   # each in a fresh model: load_model caches per process
        from annotator.engine.chunk import load_model
        load_model.cache_clear()
        outs.append(annotate(vcf, tmp_path / run, genome=str(bundle_dir), cache_dir=tiny["cache"],
                             fasta=tiny["fasta"], processes=0))
    assert saved_folders(bundle_dir)
    a, b = outs
    assert load_results(a.parquet).equals(load_results(b.parquet))
    assert load_results(a.transcripts).equals(load_results(b.transcripts))
    with gzip.open(a.vcf, "rb") as fa, gzip.open(b.vcf, "rb") as fb:
        assert fa.read() == fb.read()


def test_a_changed_bundle_gets_new_arrays_and_the_old_ones_go(bundle_dir):
    derived.load_derived(bundle_dir, load_bundle(bundle_dir))
    old = saved_folders(bundle_dir)
    meta = bundle_dir / "meta.json"
    meta.write_text(meta.read_text().replace('"name"', '"name" ', 1))   # a rebuilt bundle: new meta
    derived.load_derived(bundle_dir, load_bundle(bundle_dir))
    new = saved_folders(bundle_dir)
    assert len(new) == 1 and new != old


def test_unreadable_saved_arrays_are_derived_again(bundle_dir, caplog):
    bundle = load_bundle(bundle_dir)
    derived.load_derived(bundle_dir, bundle)
    (folder,) = bundle_dir.glob("derived-*")
    (folder / "strings.arrow").write_bytes(b"not arrow")
    with caplog.at_level(logging.WARNING, logger="gas.engine"):
        _, columns = derived.load_derived(bundle_dir, bundle)
    assert "deriving again" in caplog.text
    assert columns.to_table().equals(BundleColumns(bundle).to_table())


def test_a_bundle_folder_that_cannot_be_written_still_works(bundle_dir, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError("read-only file system")
    monkeypatch.setattr(derived.tempfile, "mkdtemp", refuse)   # (tests run as root: chmod would not stop us)
    index, columns = derived.load_derived(bundle_dir, load_bundle(bundle_dir))
    assert saved_folders(bundle_dir) == [] and len(index.ex_tx) > 0 and len(columns.arrays["transcript"]) > 0


def test_bundle_build_leaves_the_derived_arrays_ready(tiny, tmp_path, capsys):
    from gas.cli import main
    cache = tmp_path / "cache"
    assert main(["bundle", "build", "--gff3", str(tiny["dir"] / "tiny.gff3"), "--name", "tiny2",
                 "--fasta", str(tiny["fasta"]), "--cache-dir", str(cache), "--json"]) == 0
    built = Path(json.loads(capsys.readouterr().out)["bundle"])
    assert saved_folders(built) == [f"derived-{derived.derived_key(built)}"]   # the first job maps them
